"""Shared fixtures: RAG apps on temporary data dirs and local (127.0.0.1) servers."""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.serving import make_server

from aidock.rag.app import create_app, get_service
from aidock.rag.config import RagConfig
from aidock.rag.documents import IngestDocument, load_directory

REPO = Path(__file__).resolve().parents[2]
DOCS_DIR = REPO / "data" / "docs"
LOCALHOST = "127.0.0.1"

_ENV_VARS = (
    "OPENAI_API_KEY",
    "OPENAI_API_KEY_FILE",
    "OPENAI_BASE_URL",
    "OPENAI_EMBEDDING_MODEL",
    "OPENAI_CHAT_MODEL",
    "RAG_DATA_DIR",
    "RAG_MAX_BODY_BYTES",
    "RAG_DEFAULT_COLLECTION",
    "RAG_TOP_K",
    "RAG_EMBEDDER",
    "RAG_RETRIEVAL",
    "OPENAI_TIMEOUT",
    "OPENAI_MAX_RETRIES",
    "AIDOCK_RAG_URL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never see the developer's OpenAI key, service URLs or agent settings."""
    for var in _ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var in [name for name in os.environ if name.upper().startswith("AIDOCK_AGENT_")]:
        monkeypatch.delenv(var)


MakeApp = Callable[..., Flask]


@pytest.fixture
def make_app(tmp_path: Path) -> MakeApp:
    """Factory: a ready RAG app on ``tmp_path/chroma`` with config overrides."""

    def make(**overrides: Any) -> Flask:
        overrides.setdefault("data_dir", tmp_path / "chroma")
        app = create_app(RagConfig(**overrides))
        assert get_service(app).wait_ready(30), get_service(app).error
        return app

    return make


@pytest.fixture
def app(make_app: MakeApp) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="session")
def shipped_docs() -> list[IngestDocument]:
    return load_directory(DOCS_DIR)


@pytest.fixture
def ingested(client: FlaskClient, shipped_docs: list[IngestDocument]) -> FlaskClient:
    """A client whose app has the shipped documents in collection ``docs``."""
    resp = client.post("/v1/collections/docs/documents", json={"documents": shipped_docs})
    assert resp.status_code == 201, resp.json
    return client


@contextmanager
def _serve_wsgi(app: Flask) -> Iterator[str]:
    """Run ``app`` on a real werkzeug server on 127.0.0.1; yield its base URL."""
    server = make_server(LOCALHOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOCALHOST}:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


@contextmanager
def _serve_http(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """Run an ``http.server`` handler on 127.0.0.1; yield its base URL."""
    server = ThreadingHTTPServer((LOCALHOST, 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://{LOCALHOST}:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _closed_port() -> int:
    """A 127.0.0.1 port with nothing listening (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def wsgi_server() -> Callable[[Flask], Any]:
    """``with wsgi_server(app) as url:`` runs ``app`` on a real server on 127.0.0.1."""
    return _serve_wsgi


@pytest.fixture
def http_server() -> Callable[[type[BaseHTTPRequestHandler]], Any]:
    """``with http_server(Handler) as url:`` runs an ``http.server`` on 127.0.0.1."""
    return _serve_http


@pytest.fixture
def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens."""
    return _closed_port()


_BENTOML_ENV = {"BENTOML_HOME": None, "BENTOML_DO_NOT_TRACK": "true"}


@pytest.fixture(scope="module")
def bentoml_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One BentoML store per test session (BentoML reads BENTOML_HOME once)."""
    home = tmp_path_factory.getbasetemp() / "bentoml-home"
    saved = {k: os.environ.get(k) for k in _BENTOML_ENV}
    os.environ.update({k: v or str(home) for k, v in _BENTOML_ENV.items()})
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
