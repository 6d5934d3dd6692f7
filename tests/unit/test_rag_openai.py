"""OpenAI mode against a fake OpenAI API served by http.server on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from aidock.rag.app import create_app, get_service
from aidock.rag.config import RagConfig
from aidock.rag.documents import IngestDocument
from aidock.rag.embeddings import hash_embed

KEY = "sk-test-123"
INGEST = "/v1/collections/docs/documents"
QUERY = "/v1/collections/docs/query"


@dataclass
class FakeOpenAI:
    url: str = ""
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    fail_status: int | None = None


@pytest.fixture
def fake_openai(http_server: Any) -> Iterator[FakeOpenAI]:
    state = FakeOpenAI()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _send(self, status: int, body: Any) -> None:
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.requests.append((self.path, dict(self.headers), body))
            if self.headers.get("Authorization") != f"Bearer {KEY}":
                self._send(401, {"error": {"message": "Incorrect API key provided"}})
            elif state.fail_status:
                self._send(state.fail_status, {"error": {"message": "model is overloaded"}})
            elif self.path == "/v1/embeddings":
                vectors = [hash_embed(text, 256).tolist() for text in body["input"]]
                data = [{"index": i, "embedding": v} for i, v in reversed(list(enumerate(vectors)))]
                self._send(200, {"data": data, "model": body["model"]})
            elif self.path == "/v1/chat/completions":
                user = body["messages"][-1]["content"]
                first = user.split("\n")[1]
                answer = f"According to passage [1]: {first[:60]}"
                message = {"role": "assistant", "content": answer}
                self._send(200, {"choices": [{"message": message}]})
            else:
                self._send(404, {"error": {"message": "unknown path"}})

    with http_server(Handler) as url:
        state.url = url
        yield state


def openai_client(tmp_path: Path, fake: FakeOpenAI, key: str = KEY) -> FlaskClient:
    config = RagConfig(
        data_dir=tmp_path / "db",
        openai_api_key=key,
        openai_base_url=f"{fake.url}/v1",
        openai_embedding_model="fake-embed",
        openai_chat_model="fake-chat",
    )
    app = create_app(config)
    assert get_service(app).wait_ready(30)
    return app.test_client()


def test_openai_mode_end_to_end(
    tmp_path: Path, fake_openai: FakeOpenAI, shipped_docs: list[IngestDocument]
) -> None:
    client = openai_client(tmp_path, fake_openai)
    resp = client.post(INGEST, json={"documents": shipped_docs})
    assert resp.status_code == 201, resp.json
    embed_calls = [r for r in fake_openai.requests if r[0] == "/v1/embeddings"]
    assert sum(len(r[2]["input"]) for r in embed_calls) == resp.json["passages"]
    assert all(r[2]["model"] == "fake-embed" for r in embed_calls)

    body = client.post(QUERY, json={"question": "How long are invoices retained?"}).json
    assert body["mode"] == "openai"
    assert body["sources"][0]["source"] == "invoice-processing-guideline.txt"
    path, headers, chat = fake_openai.requests[-1]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert chat["model"] == "fake-chat"
    user = chat["messages"][-1]["content"]
    assert "Question: How long are invoices retained?" in user
    for source in body["sources"]:
        assert source["text"] in user
    n = len(body["sources"])
    assert f"\n[{n}] " in user
    assert f"\n[{n + 1}] " not in user
    assert body["answer"].startswith("According to passage [1]: [1] (invoice-processing-guideline")

    collections = client.get("/v1/collections").json["collections"]
    assert collections[0]["embedder"] == "openai:fake-embed"


def test_openai_failure_is_502_and_service_survives(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    client = openai_client(tmp_path, fake_openai, key="wrong-key")
    resp = client.post(INGEST, json={"documents": [{"text": "Some text to embed."}]})
    assert resp.status_code == 502
    assert "Incorrect API key provided" in resp.json["error"]
    assert client.get("/healthz").status_code == 200


def test_embedder_mismatch_is_409(tmp_path: Path, fake_openai: FakeOpenAI, make_app: Any) -> None:
    offline = make_app(data_dir=tmp_path / "db").test_client()
    offline.post(INGEST, json={"documents": [{"text": "Invoices are kept for ten years."}]})
    online = openai_client(tmp_path, fake_openai)
    resp = online.post(QUERY, json={"question": "How long are invoices kept?"})
    assert resp.status_code == 409
    assert "'hashing-v1-1024'" in resp.json["error"]
    assert "'openai:fake-embed'" in resp.json["error"]
    assert online.post(INGEST, json={"documents": [{"text": "x y z"}]}).status_code == 409
    assert fake_openai.requests == []  # the mismatch is found before anything is embedded


def test_key_file_enables_openai(
    tmp_path: Path, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "openai.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_openai.url}/v1")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "db"))
    app = create_app()
    assert get_service(app).wait_ready(30)
    client = app.test_client()
    client.post(INGEST, json={"documents": [{"text": "The canteen opens at noon."}]})
    body = client.post(QUERY, json={"question": "When does the canteen open?"}).json
    assert body["mode"] == "openai"
    assert fake_openai.requests[-1][1]["Authorization"] == f"Bearer {KEY}"
