"""Body limits of the Flask services (aidock.http_errors) over real servers on 127.0.0.1.

The RAG AI and the agent run under werkzeug's server (in this process) and under gunicorn
(a subprocess, gthread worker as in the images); requests are sent chunked by http.client.
Under gunicorn, and under werkzeug for chunked bodies, werkzeug's own MAX_CONTENT_LENGTH
check ends the stream quietly at the limit: an oversize body used to be parsed cut short.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from http_bodies import (
    LOCALHOST,
    long_string,
    padded,
    padded_inside,
    post_chunked,
    post_sized,
    too_large,
)
from test_agent_fakes import TOKEN, FakeOps

from aidock.agent.app import MAX_BODY_BYTES as AGENT_LIMIT
from aidock.agent.app import create_app as create_agent_app
from aidock.agent.config import AgentConfig
from aidock.rag.app import create_app as create_rag_app
from aidock.rag.app import get_service
from aidock.rag.config import RagConfig

HERE = Path(__file__).resolve().parent
RAG_LIMIT = 2000
AUTH = {"Authorization": f"Bearer {TOKEN}"}
RAG_DOC = {"documents": [{"text": "Invoices are retained for ten years.", "source": "a.txt"}]}
# version of the wrong type: whatever the agent reads of it, it never asks Docker or a registry
AGENT_REQ = {"ai": "rag", "version": 1}
START_TIMEOUT_S = 60.0
# Settings the developer's shell may hold; the servers here must not see them (OpenAI, ports).
FOREIGN_ENV = ("OPENAI_", "RAG_", "AIDOCK_")

Serve = Callable[[str, Path], AbstractContextManager[str]]


# ------------------------------------------------------------------ servers


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(FOREIGN_ENV)}
    return {**env, **extra}


@contextmanager
def gunicorn(target: str, env: dict[str, str], ready: str, log: Path) -> Iterator[str]:
    """Run `target` under gunicorn on 127.0.0.1 as the images do; yield its base URL."""
    port = _free_port()
    url = f"http://{LOCALHOST}:{port}"
    command = [
        sys.executable, "-m", "gunicorn", "--bind", f"{LOCALHOST}:{port}",
        "--workers", "1", "--threads", "4", "--pythonpath", str(HERE), target,
    ]  # fmt: skip
    with log.open("wb") as out:
        proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                pytest.fail(f"gunicorn exited {proc.returncode}:\n{log.read_text()[-4000:]}")
            try:
                if requests.get(f"{url}{ready}", timeout=5).status_code == 200:
                    break
            except (requests.ConnectionError, requests.Timeout):
                pass  # not listening yet, or still importing
            if time.monotonic() > deadline:
                pytest.fail(f"gunicorn not ready on {ready}:\n{log.read_text()[-4000:]}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def agent_app(token_file: str) -> Flask:
    """The agent with Docker faked (gunicorn target ``test_http_errors:agent_app('<path>')``)."""
    config = AgentConfig(owner_id="unit", token_file=Path(token_file), max_instances=64)
    return create_agent_app(
        config, ops=FakeOps(config), probe=lambda url, timeout: True, reaper=False
    )


def _token_file(tmp: Path) -> Path:
    path = tmp / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(params=["werkzeug", "gunicorn"])
def serve_rag(request: pytest.FixtureRequest, wsgi_server: Any) -> Serve:
    """``with serve_rag(name, tmp) as url:`` runs the RAG AI (limit RAG_LIMIT) on a real server."""

    @contextmanager
    def werkzeug(name: str, tmp: Path) -> Iterator[str]:
        app = create_rag_app(RagConfig(data_dir=tmp / "chroma", max_body_bytes=RAG_LIMIT))
        assert get_service(app).wait_ready(30), get_service(app).error
        with wsgi_server(app) as url:
            yield url

    def unicorn(name: str, tmp: Path) -> AbstractContextManager[str]:
        env = _clean_env(RAG_DATA_DIR=str(tmp / "chroma"), RAG_MAX_BODY_BYTES=str(RAG_LIMIT))
        return gunicorn("aidock.rag.wsgi:app", env, "/readyz", tmp / f"{name}.log")

    return werkzeug if request.param == "werkzeug" else unicorn


@pytest.fixture(params=["werkzeug", "gunicorn"])
def serve_agent(request: pytest.FixtureRequest, wsgi_server: Any) -> Serve:
    """``with serve_agent(name, tmp) as url:`` runs the agent (Docker faked) on a real server."""

    @contextmanager
    def werkzeug(name: str, tmp: Path) -> Iterator[str]:
        with wsgi_server(agent_app(str(_token_file(tmp)))) as url:
            yield url

    def unicorn(name: str, tmp: Path) -> AbstractContextManager[str]:
        target = f"test_http_errors:agent_app({str(_token_file(tmp))!r})"
        return gunicorn(target, _clean_env(), "/healthz", tmp / f"{name}.log")

    return werkzeug if request.param == "werkzeug" else unicorn


# ------------------------------------------------------------------ RAG AI


INGEST = "/v1/collections/docs/documents"
QUERY = "/v1/collections/docs/query"


def test_rag_refuses_chunked_bodies_over_its_limit(serve_rag: Serve, tmp_path: Path) -> None:
    with serve_rag("rag", tmp_path) as url:
        # 10 MB: cut at the limit, this used to be 400 "invalid JSON: Unterminated string"
        assert post_chunked(url, QUERY, long_string("question", 10_000_000)) == (
            413,
            too_large(RAG_LIMIT),
        )
        # 3 MB of valid JSON padded with whitespace: this used to be answered 200
        status, body = post_chunked(url, QUERY, padded({"question": "retention?"}, 3_000_000))
        assert (status, body) == (413, too_large(RAG_LIMIT))
        # one byte over the limit, valid JSON
        status, body = post_chunked(url, INGEST, padded(RAG_DOC, RAG_LIMIT + 1))
        assert (status, body) == (413, too_large(RAG_LIMIT))
        assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


def test_rag_answers_chunked_bodies_within_its_limit(serve_rag: Serve, tmp_path: Path) -> None:
    with serve_rag("rag", tmp_path) as url:
        status, body = post_chunked(url, INGEST, padded_inside(RAG_DOC, RAG_LIMIT))  # exactly
        assert status == 201, body
        assert body["documents"] == 1
        status, body = post_chunked(url, QUERY, padded({"question": "How long?"}, 500))
        assert status == 200, body
        assert body["sources"][0]["source"] == "a.txt"
        status, body = post_chunked(url, QUERY, long_string("question", 300))
        assert status == 200, body


def test_rag_refuses_a_content_length_over_its_limit(serve_rag: Serve, tmp_path: Path) -> None:
    with serve_rag("rag", tmp_path) as url:
        body = b"".join(padded({"question": "How long?"}, RAG_LIMIT + 1))
        resp = post_sized(url, QUERY, body)
        assert (resp.status_code, resp.json()) == (413, too_large(RAG_LIMIT))
        resp = post_sized(url, INGEST, b"".join(padded(RAG_DOC, RAG_LIMIT)))
        assert resp.status_code == 201, resp.json()


# ------------------------------------------------------------------ agent


INSTANCES = "/v1/instances"


def test_agent_refuses_chunked_bodies_over_its_limit(serve_agent: Serve, tmp_path: Path) -> None:
    with serve_agent("agent", tmp_path) as url:
        for chunks in (
            padded(AGENT_REQ, 3_000_000),  # cut at the limit, this used to be parsed
            long_string("ai", 10_000_000),
            padded(AGENT_REQ, AGENT_LIMIT + 1),
        ):
            status, body = post_chunked(url, INSTANCES, chunks, AUTH)
            assert (status, body) == (413, too_large(AGENT_LIMIT))
        listed = requests.get(f"{url}{INSTANCES}", headers=AUTH, timeout=10).json()
        assert listed["instances"] == []


def test_agent_reads_chunked_bodies_within_its_limit(serve_agent: Serve, tmp_path: Path) -> None:
    with serve_agent("agent", tmp_path) as url:
        # Read whole and validated, without asking Docker or a registry: its last field is wrong.
        chunks = padded_inside(AGENT_REQ, AGENT_LIMIT)
        status, body = post_chunked(url, INSTANCES, chunks, AUTH)
        assert (status, body["field"]) == (422, "version"), body
        # the token is checked before the body is read
        status, body = post_chunked(url, INSTANCES, padded(AGENT_REQ, 3_000_000))
        assert status == 401, body


def test_agent_refuses_a_content_length_over_its_limit(serve_agent: Serve, tmp_path: Path) -> None:
    with serve_agent("agent", tmp_path) as url:
        resp = post_sized(url, INSTANCES, b"".join(padded(AGENT_REQ, AGENT_LIMIT + 1)), AUTH)
        assert (resp.status_code, resp.json()) == (413, too_large(AGENT_LIMIT))
