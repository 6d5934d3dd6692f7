"""The RAG AI and an on-prem LLM server, both served for real over HTTP on 127.0.0.1.

The LLM server is a fake OpenAI-compatible one (``http.server`` in a thread): with or without
a required key, failing with an HTTP status, or too slow. The RAG app runs on a werkzeug
server in a thread and is called with ``requests`` and the ``aidock`` CLI, as a client
would; nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonhttp import JsonHandler

from aidock.cli import EXIT_OK, main
from aidock.rag.app import create_app, get_service
from aidock.rag.documents import IngestDocument
from aidock.rag.embeddings import hash_embed

KEY = "sk-test-123"
INGEST = "/v1/collections/docs/documents"
QUERY = "/v1/collections/docs/query"
QUESTION = "How long are invoices retained?"
TIMEOUT = 30


@dataclass
class FakeLLM:
    url: str = ""
    key: str | None = None  # the key it requires (None: none, like most on-prem servers)
    fail_status: int | None = None
    delay: float = 0.0
    # (path, headers with lowercased names, body)
    requests: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)

    def calls(self, path: str) -> list[tuple[str, dict[str, str], Any]]:
        return [r for r in self.requests if r[0] == path]


@pytest.fixture
def fake_llm(http_server: Any) -> Iterator[FakeLLM]:
    state = FakeLLM()

    class Handler(JsonHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            headers = {name.lower(): value for name, value in self.headers.items()}
            state.requests.append((self.path, headers, body))
            if state.delay:
                time.sleep(state.delay)
            if state.key and self.headers.get("Authorization") != f"Bearer {state.key}":
                self._send(401, {"error": {"message": "Incorrect API key provided"}})
            elif state.fail_status:
                self._send(state.fail_status, {"error": {"message": "model is overloaded"}})
            elif self.path == "/v1/embeddings":
                vectors = [hash_embed(text, 256).tolist() for text in body["input"]]
                data = [
                    {"object": "embedding", "index": i, "embedding": v}
                    for i, v in reversed(list(enumerate(vectors)))
                ]
                usage = {"prompt_tokens": 1, "total_tokens": 1}
                self._send(
                    200, {"object": "list", "data": data, "model": body["model"], "usage": usage}
                )
            elif self.path == "/v1/chat/completions":
                user = body["messages"][-1]["content"]
                first = user.split("\n")[1]
                message = {"role": "assistant", "content": f"From passage [1]: {first[:60]}"}
                choice = {"index": 0, "finish_reason": "stop", "message": message}
                self._send(
                    200,
                    {
                        "id": "chatcmpl-1",
                        "object": "chat.completion",
                        "created": 0,
                        "model": body["model"],
                        "choices": [choice],
                    },
                )
            else:
                self._send(404, {"error": {"message": "unknown path"}})

    with http_server(Handler) as url:
        state.url = url
        yield state


@pytest.fixture
def serve_rag(make_app: Any, wsgi_server: Any) -> Iterator[Any]:
    """``serve_rag(**config)`` -> base URL of a RAG app on a real server on 127.0.0.1."""
    with_servers: list[Any] = []

    def serve(**overrides: Any) -> str:
        server = wsgi_server(make_app(**overrides))
        with_servers.append(server)
        return str(server.__enter__())

    yield serve
    for server in reversed(with_servers):
        server.__exit__(None, None, None)


def llm_config(fake: FakeLLM, **overrides: Any) -> dict[str, Any]:
    return {
        "openai_base_url": f"{fake.url}/v1",
        "openai_embedding_model": "fake-embed",
        "openai_chat_model": "fake-chat",
        "openai_max_retries": 0,
        **overrides,
    }


def ingest(url: str, docs: list[IngestDocument]) -> requests.Response:
    return requests.post(url + INGEST, json={"documents": docs}, timeout=TIMEOUT)


def ask(url: str, question: str = QUESTION) -> requests.Response:
    return requests.post(url + QUERY, json={"question": question}, timeout=TIMEOUT)


def test_llm_without_key_answers_with_sources(
    fake_llm: FakeLLM, serve_rag: Any, shipped_docs: list[IngestDocument]
) -> None:
    url = serve_rag(**llm_config(fake_llm))
    assert ingest(url, shipped_docs).status_code == 201
    assert fake_llm.calls("/v1/embeddings") == []  # the offline embedder is the default

    resp = ask(url)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["mode"] == "openai"
    assert body["warning"] is None
    assert body["answer"].startswith("From passage [1]: [1] (")
    assert "ten years" in " ".join(s["text"] for s in body["sources"])
    path, headers, chat = fake_llm.requests[-1]
    assert path == "/v1/chat/completions"
    assert "authorization" not in headers  # no key: no header at all
    assert chat["model"] == "fake-chat"
    system, user = (m["content"] for m in chat["messages"])
    assert "Use only the numbered passages" in system
    assert "reply exactly: No answer found" in system
    assert user.endswith(f"Question: {QUESTION}")
    for number, source in enumerate(body["sources"], start=1):
        assert f"[{number}] ({source['source']}) {source['text']}" in user


def test_llm_with_key_sends_it(
    fake_llm: FakeLLM, serve_rag: Any, shipped_docs: list[IngestDocument]
) -> None:
    fake_llm.key = KEY
    url = serve_rag(**llm_config(fake_llm, openai_api_key=KEY))
    ingest(url, shipped_docs)
    body = ask(url).json()
    assert body["mode"] == "openai"
    assert fake_llm.requests[-1][1]["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("setup", "reason"),
    [
        ({"fail_status": 500}, "HTTP 500: model is overloaded"),
        ({"key": "another-key"}, "HTTP 401: Incorrect API key provided"),
        ({"delay": 1.5}, "timed out"),
    ],
    ids=["server-error", "wrong-key", "timeout"],
)
def test_llm_failure_answers_offline_with_a_warning(
    fake_llm: FakeLLM,
    serve_rag: Any,
    shipped_docs: list[IngestDocument],
    setup: dict[str, Any],
    reason: str,
) -> None:
    url = serve_rag(**llm_config(fake_llm, openai_timeout=0.5))
    ingest(url, shipped_docs)
    for name, value in setup.items():
        setattr(fake_llm, name, value)
    started = time.monotonic()
    resp = ask(url)
    assert time.monotonic() - started < 5  # one try of 0.5 s, then the offline answer
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["mode"] == "offline"
    assert reason in body["warning"]
    assert f"{fake_llm.url}/v1" in body["warning"]
    assert "ten years" in body["answer"]
    assert body["sources"]


def test_unreachable_llm_answers_offline(
    serve_rag: Any, closed_port: int, shipped_docs: list[IngestDocument]
) -> None:
    url = serve_rag(openai_base_url=f"http://127.0.0.1:{closed_port}/v1", openai_max_retries=0)
    ingest(url, shipped_docs)
    body = ask(url).json()
    assert body["mode"] == "offline"
    assert "cannot connect" in body["warning"]
    assert "ten years" in body["answer"]


def test_llm_embeddings_when_configured(
    fake_llm: FakeLLM, serve_rag: Any, shipped_docs: list[IngestDocument]
) -> None:
    url = serve_rag(**llm_config(fake_llm, embedder="openai"))
    resp = ingest(url, shipped_docs)
    assert resp.status_code == 201, resp.text
    embedded = fake_llm.calls("/v1/embeddings")
    assert sum(len(r[2]["input"]) for r in embedded) == resp.json()["passages"]
    assert all(r[2]["model"] == "fake-embed" for r in embedded)
    collections = requests.get(url + "/v1/collections", timeout=TIMEOUT).json()["collections"]
    assert collections[0]["embedder"] == "openai:fake-embed"

    fake_llm.fail_status = 503  # no retrieval without the embedding server: 502
    resp = ask(url)
    assert resp.status_code == 502
    assert "HTTP 503: model is overloaded" in resp.json()["error"]
    assert requests.get(url + "/healthz", timeout=TIMEOUT).status_code == 200


def test_other_embedder_is_refused_until_reindexed(
    tmp_path: Path, serve_rag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "shared"
    old = serve_rag(data_dir=data_dir, embedder="hashing")
    assert ingest(old, [{"text": "Invoices are retained for ten years."}]).status_code == 201

    # the same store opened by a service with another embedder (an upgraded image)
    new = serve_rag(data_dir=data_dir, embedder="wordllama")
    resp = ask(new, "How long do we keep supplier bills?")
    assert resp.status_code == 409
    error = resp.json()["error"]
    assert "'hashing-v1-1024'" in error
    assert "'wordllama-0.4.0.post1:l2_supercat-256'" in error
    assert "aidock worker rag reindex --collection docs" in error
    assert ingest(new, [{"text": "More text."}]).status_code == 409

    assert main(["worker", "rag", "reindex", "--url", new]) == EXIT_OK
    out = capsys.readouterr().out
    assert "1 passages, embedder hashing-v1-1024 -> wordllama-0.4.0.post1" in out
    body = ask(new, "How long do we keep supplier bills?").json()
    assert "ten years" in body["answer"]
    collections = requests.get(new + "/v1/collections", timeout=TIMEOUT).json()["collections"]
    assert [(c["name"], c["count"]) for c in collections] == [("docs", 1)]
    assert collections[0]["embedder"].startswith("wordllama-")


def test_reindex_with_the_same_embedder_leaves_the_collection(serve_rag: Any) -> None:
    url = serve_rag(embedder="hashing")
    assert ingest(url, [{"text": "Invoices are retained for ten years."}]).status_code == 201
    before = requests.get(url + "/v1/collections", timeout=TIMEOUT).json()["collections"]
    resp = requests.post(url + "/v1/collections/docs/reindex", json={}, timeout=TIMEOUT)
    assert resp.status_code == 200, resp.text
    after = requests.get(url + "/v1/collections", timeout=TIMEOUT).json()["collections"]
    assert after == before
    assert "ten years" in ask(url, "How long are invoices retained?").json()["answer"]


def test_reindex_of_an_unknown_collection_is_404(serve_rag: Any) -> None:
    url = serve_rag()
    resp = requests.post(url + "/v1/collections/nothing/reindex", json={}, timeout=TIMEOUT)
    assert resp.status_code == 404
    assert resp.json()["field"] == "collection"


def test_key_file_and_base_url_from_the_environment(
    tmp_path: Path, fake_llm: FakeLLM, monkeypatch: pytest.MonkeyPatch, wsgi_server: Any
) -> None:
    fake_llm.key = KEY
    key_file = tmp_path / "openai.key"
    key_file.write_text(KEY + "\n")
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    monkeypatch.setenv("OPENAI_BASE_URL", f"{fake_llm.url}/v1")
    monkeypatch.setenv("RAG_DATA_DIR", str(tmp_path / "db"))
    app = create_app()
    assert get_service(app).wait_ready(30)
    with wsgi_server(app) as url:
        ingest(url, [{"text": "The canteen opens at noon."}])
        body = ask(url, "When does the canteen open?").json()
    assert body["mode"] == "openai"
    assert fake_llm.requests[-1][1]["authorization"] == f"Bearer {KEY}"


def test_ingest_with_reindex_rebuilds_a_collection_of_another_embedder(
    tmp_path: Path, serve_rag: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "invoices.txt").write_text("Invoices are retained for ten years.")
    data_dir = tmp_path / "store"
    old = serve_rag(data_dir=data_dir, embedder="hashing")
    assert main(["worker", "rag", "ingest", str(docs), "--url", old]) == EXIT_OK
    new = serve_rag(data_dir=data_dir, embedder="wordllama")
    capsys.readouterr()
    assert main(["worker", "rag", "ingest", str(docs), "--url", new]) != EXIT_OK
    assert "answered 409" in capsys.readouterr().err
    assert main(["worker", "rag", "ingest", str(docs), "--reindex", "--url", new]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("reindexed collection 'docs'")
    assert out[1].startswith("ingested 1 documents (1 passages)")
