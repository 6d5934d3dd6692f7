"""The RAG Flask app end to end (test client): ingest, query, errors, readiness, OpenAPI."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask
from flask.testing import FlaskClient

from aidock.rag.answer import NO_ANSWER
from aidock.rag.app import create_app, get_service
from aidock.rag.config import RagConfig
from aidock.rag.documents import IngestDocument

QUERY = "/v1/collections/docs/query"
INGEST = "/v1/collections/docs/documents"


def ask(client: FlaskClient, question: str, **extra: Any) -> dict[str, Any]:
    resp = client.post(QUERY, json={"question": question, **extra})
    assert resp.status_code == 200, resp.json
    return resp.json


@pytest.mark.parametrize(
    ("question", "expected_source", "fact"),
    [
        ("How long are invoices retained?", "invoice-processing-guideline.txt", "ten years"),
        ("How long are CCTV recordings kept?", "data-retention-policy.txt", "72 hours"),
        ("Who approves claims above EUR 250,000?", "claims-handling-policy.txt", "Committee"),
        ("How long must a password be?", "it-password-policy.txt", "14 characters"),
        ("What is the hotel limit per night in London?", "travel-expense-policy.txt", "220"),
        (
            "When must suspicious activity be reported to the MLRO?",
            "kyc-procedure.txt",
            "24 hours",
        ),
        ("How often are high-risk customers reviewed?", "kyc-procedure.txt", "every year"),
        (
            "What is the deadline for answering a data subject access request?",
            "data-subject-request-procedure.txt",
            "one month",
        ),
        (
            "What confidence score sends extracted fields to manual review?",
            "document-ai-processing-guideline.txt",
            "0.85",
        ),
        (
            "How quickly must a personal data breach be notified to the supervisory authority?",
            "security-incident-reporting.txt",
            "72 hours",
        ),
    ],
)
def test_question_answered_from_right_document(
    ingested: FlaskClient, question: str, expected_source: str, fact: str
) -> None:
    body = ask(ingested, question)
    assert body["mode"] == "offline"
    assert body["collection"] == "docs"
    assert body["sources"][0]["source"] == expected_source
    assert fact in body["answer"]
    # the answer is extracted from the retrieved passages, never invented
    assert any(
        sentence.strip() in " ".join(s["text"] for s in body["sources"]).replace("\n", " ")
        for sentence in body["answer"].split(". ")
    )


def test_sources_shape_and_scores(ingested: FlaskClient) -> None:
    body = ask(ingested, "How long are invoices retained?", top_k=5)
    sources = body["sources"]
    assert len(sources) == 5
    scores = [s["score"] for s in sources]
    assert scores == sorted(scores, reverse=True)
    assert all(-1.0 <= s <= 1.0 for s in scores)
    first = sources[0]
    assert set(first) == {"id", "document_id", "source", "text", "score", "section"}
    assert first["section"].startswith("Invoice Processing Guideline > ")
    assert first["id"].startswith(first["document_id"] + "#")
    assert first["document_id"] == "invoice-processing-guideline.txt"


def test_default_top_k_comes_from_config(make_app: Any, shipped_docs: list[Any]) -> None:
    client = make_app(top_k=2).test_client()
    client.post(INGEST, json={"documents": shipped_docs})
    assert len(ask(client, "What is the per diem for a full travel day?")["sources"]) == 2


def test_unrelated_question_has_no_answer_but_sources(ingested: FlaskClient) -> None:
    body = ask(ingested, "What is the capital of France?")
    assert body["answer"] == NO_ANSWER
    assert len(body["sources"]) == 3


def test_reingest_does_not_duplicate(
    ingested: FlaskClient, shipped_docs: list[IngestDocument]
) -> None:
    before = ingested.get("/v1/collections").json["collections"][0]
    resp = ingested.post(INGEST, json={"documents": shipped_docs})
    assert resp.status_code == 201
    expected = {"collection": "docs", "documents": len(shipped_docs), "passages": before["count"]}
    assert resp.json == expected
    after = ingested.get("/v1/collections").json["collections"][0]
    assert after == before
    assert after["count"] == resp.json["passages"]


def test_reingest_shorter_document_removes_stale_passages(client: FlaskClient) -> None:
    long_text = " ".join(f"Sentence number {i} talks about topic {i}." for i in range(40))
    first = client.post(INGEST, json={"documents": [{"id": "doc-1", "text": long_text}]})
    assert first.json["passages"] > 2
    second = client.post(INGEST, json={"documents": [{"id": "doc-1", "text": "Now short."}]})
    assert second.json["passages"] == 1
    collections = client.get("/v1/collections").json["collections"]
    assert collections == [
        {"name": "docs", "count": 1, "embedder": "wordllama-0.4.0.post1:l2_supercat-256"}
    ]


def test_documents_without_id_are_keyed_by_content(client: FlaskClient) -> None:
    doc = {"text": "The canteen opens at 11:30 on working days.", "source": "memo"}
    for _ in range(2):
        resp = client.post(INGEST, json={"documents": [doc, doc]})
        assert resp.json == {"collection": "docs", "documents": 1, "passages": 1}
    body = ask(client, "When does the canteen open?")
    assert body["sources"][0]["document_id"].startswith("sha256:")
    assert body["sources"][0]["source"] == "memo"
    assert "11:30" in body["answer"]


def test_metadata_is_accepted(client: FlaskClient) -> None:
    doc = {
        "id": "m1",
        "text": "Overtime must be approved by the team lead in advance.",
        "metadata": {"department": "HR", "year": 2024, "weight": 0.5, "public": True},
    }
    assert client.post(INGEST, json={"documents": [doc]}).status_code == 201


def test_conflicting_duplicate_ids_rejected(client: FlaskClient) -> None:
    docs = [{"id": "same", "text": "First text."}, {"id": "same", "text": "Other text."}]
    resp = client.post(INGEST, json={"documents": docs})
    assert resp.status_code == 422
    assert resp.json["field"] == "documents.1.id"
    assert "duplicate document id 'same'" in resp.json["error"]


def test_text_with_a_lone_surrogate_is_refused(client: FlaskClient) -> None:
    # JSON's escapes can carry a lone surrogate ("\\ud944"): no UTF-8 store takes it, and the
    # body is refused before any model sees it.
    docs = [{"id": "ok", "text": "A real sentence."}, {"id": "bad", "text": "a \ud944 b"}]
    resp = client.post(INGEST, json={"documents": docs})
    assert resp.status_code == 400, resp.json
    assert "surrogate" in resp.json["error"]
    assert client.get("/v1/collections").json["collections"] == []  # nothing half-ingested


@pytest.mark.parametrize("text", ["0", "Hello", "\u0016\U000614b4t\u00c3h F rwd"])
def test_a_one_line_text_is_one_passage(client: FlaskClient, text: str) -> None:
    # Found by the fuzz test: a text that is a single heading-like line was split into nothing.
    resp = client.post(INGEST, json={"documents": [{"id": "one", "text": text}]})
    assert resp.status_code == 201, resp.json
    assert resp.json["passages"] == 1


def test_list_collections(ingested: FlaskClient) -> None:
    ingested.post(
        "/v1/collections/other.set_1/documents", json={"documents": [{"text": "Hello there."}]}
    )
    body = ingested.get("/v1/collections").json
    assert [c["name"] for c in body["collections"]] == ["docs", "other.set_1"]
    assert body["collections"][1]["count"] == 1
    assert body["default"] == "docs"
    assert ingested.get("/readyz").json == {"status": "ready", "collections": 2}


def test_data_persists_across_restart(
    make_app: Any, shipped_docs: list[IngestDocument], tmp_path: Path
) -> None:
    make_app().test_client().post(INGEST, json={"documents": shipped_docs})
    again = make_app().test_client()
    assert "ten years" in ask(again, "How long are invoices retained?")["answer"]


# --- errors ---------------------------------------------------------------------------

BAD_QUERIES = [
    ({"question": ""}, "question", "question: String should contain at least one non-white"),
    ({"question": "   "}, "question", "question: String should contain at least one non-white"),
    ({"question": "\x1c"}, "question", "question: String should contain at least one non-white"),
    ({"question": " " * 2000 + "ok"}, "question", "question: String should have at most 2000"),
    ({"question": "ok", "top_k": 2.5}, "top_k", "top_k: Input should be a valid integer"),
    ({"question": 5}, "question", "question: Input should be a valid string"),
    ({"question": "x" * 2001}, "question", "question: String should have at most 2000 char"),
    ({}, "question", "question: Field required"),
    ({"question": "ok", "top_k": 0}, "top_k", "top_k: Input should be greater than or equal"),
    ({"question": "ok", "top_k": 21}, "top_k", "top_k: Input should be less than or equal to"),
    ({"question": "ok", "top_k": "3"}, "top_k", "top_k: Input should be a valid integer"),
    ({"question": "ok", "top_k": True}, "top_k", "top_k: Input should be a valid integer"),
    ({"question": "ok", "topk": 3}, "topk", "topk: Extra inputs are not permitted"),
    (["question"], None, "request body: Input should be"),
]


@pytest.mark.parametrize(("payload", "field", "message"), BAD_QUERIES)
def test_bad_query_is_422_naming_the_field(
    ingested: FlaskClient, payload: Any, field: str | None, message: str
) -> None:
    resp = ingested.post(QUERY, json=payload)
    assert resp.status_code == 422
    assert resp.json["field"] == field
    assert resp.json["error"].startswith(message), resp.json
    assert "ten years" in ask(ingested, "How long are invoices retained?")["answer"]


BAD_INGESTS = [
    ({"documents": []}, "documents", "documents: List should have at least 1 item"),
    ({"documents": [{"text": ""}]}, "documents.0.text", "documents.0.text: String should"),
    ({"documents": [{"text": "ok", "id": 7}]}, "documents.0.id", "documents.0.id: Input"),
    ({"documents": [{"txt": "ok"}]}, "documents.0.text", "documents.0.text: Field required"),
    (
        {"documents": [{"text": "ok", "metadata": {"tags": ["a"]}}]},
        "documents.0.metadata.tags.str",
        "documents.0.metadata.tags",
    ),
    (
        {"documents": [{"text": "ok", "metadata": {"source": "x"}}]},
        "documents.0.metadata",
        "documents.0.metadata: Value error, key 'source' is reserved",
    ),
    (
        {"documents": [{"text": f"doc {i}"} for i in range(1001)]},
        "documents",
        "documents: List should have at most 1000 items",
    ),
]


@pytest.mark.parametrize(("payload", "field", "message"), BAD_INGESTS)
def test_bad_ingest_is_422_naming_the_field(
    client: FlaskClient, payload: Any, field: str, message: str
) -> None:
    resp = client.post(INGEST, json=payload)
    assert resp.status_code == 422
    assert resp.json["field"] == field
    assert resp.json["error"].startswith(message), resp.json
    assert client.get("/v1/collections").json["collections"] == []


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"{", "invalid JSON"),
        (b'{"question": NaN}', "invalid JSON: NaN"),
        (b"", "request body is empty"),
        (b"\xff\xfe\x00", "invalid JSON"),
        (b'{"question": "\\ud800 alone"}', "invalid JSON: unpaired surrogate '\\ud800'"),
        (b'{"question": "ok", "\\udfff": 1}', "invalid JSON: unpaired surrogate"),
        ('{"q": "\ud83d\ude00 ok", "x": ["\udc00"]}'.encode("utf-8", "surrogatepass"), "unpaired"),
    ],
)
def test_invalid_json_is_400(ingested: FlaskClient, data: bytes, fragment: str) -> None:
    resp = ingested.post(QUERY, data=data, content_type="application/json")
    assert resp.status_code == 400
    assert fragment in resp.json["error"]
    assert resp.json["field"] is None
    ask(ingested, "How long are invoices retained?")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", None])
def test_wrong_content_type_is_415(ingested: FlaskClient, content_type: str | None) -> None:
    data = json.dumps({"question": "How long are invoices retained?"})
    resp = ingested.post(QUERY, data=data, content_type=content_type)
    assert resp.status_code == 415
    assert "application/json" in resp.json["error"]
    ask(ingested, "How long are invoices retained?")


def test_oversize_body_is_413_naming_the_limit(make_app: Any) -> None:
    client = make_app(max_body_bytes=2000).test_client()
    resp = client.post(INGEST, json={"documents": [{"text": "word " * 1000}]})
    assert resp.status_code == 413
    assert resp.json == {"error": "request body exceeds the limit of 2000 bytes", "field": None}
    ok = client.post(INGEST, json={"documents": [{"text": "A short document."}]})
    assert ok.status_code == 201


def test_oversize_body_over_real_server(make_app: Any, wsgi_server: Any) -> None:
    app = make_app(max_body_bytes=2000)
    with wsgi_server(app) as url:
        resp = requests.post(f"{url}{QUERY}", json={"question": "x" * 5000}, timeout=10)
        assert resp.status_code == 413
        assert "2000 bytes" in resp.json()["error"]
        assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


@pytest.mark.parametrize("name", ["ab", "a" * 64, "bad%20name", "-abc", "abc-", "a..b", "ca$h"])
def test_bad_collection_name_is_422(client: FlaskClient, name: str) -> None:
    for path, payload in [
        (f"/v1/collections/{name}/query", {"question": "hi"}),
        (f"/v1/collections/{name}/documents", {"documents": [{"text": "hi"}]}),
    ]:
        resp = client.post(path, json=payload)
        assert resp.status_code == 422, (path, resp.json)
        assert resp.json["field"] == "collection"
        assert "3-63 characters" in resp.json["error"]


def test_unknown_collection_is_404_naming_it(ingested: FlaskClient) -> None:
    resp = ingested.post("/v1/collections/nothing-here/query", json={"question": "Anyone?"})
    assert resp.status_code == 404
    assert "'nothing-here'" in resp.json["error"]
    assert resp.json["field"] == "collection"


def test_unknown_route_and_method_are_json(client: FlaskClient) -> None:
    resp = client.get("/v2/nothing")
    assert resp.status_code == 404
    assert resp.json == {"error": "no such endpoint: GET /v2/nothing", "field": None}
    resp = client.get(QUERY)
    assert resp.status_code == 405
    assert resp.json["error"] == f"method GET is not allowed on {QUERY}"
    assert "POST" in resp.headers["Allow"]
    assert client.delete("/healthz").status_code == 405


def test_unexpected_error_is_json_500(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    store = get_service(app).store
    assert store is not None

    def boom(*_: Any) -> None:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(store, "list_collections", boom)
    resp = app.test_client().get("/v1/collections")
    assert resp.status_code == 500
    assert resp.json == {"error": "internal server error (RuntimeError)", "field": None}


# --- readiness, openapi, isolation -------------------------------------------------------


def test_readyz_is_503_until_store_is_open(tmp_path: Path) -> None:
    app = create_app(RagConfig(data_dir=tmp_path / "db"), init="manual")
    client = app.test_client()
    assert client.get("/healthz").json == {"status": "ok"}
    resp = client.get("/readyz")
    assert resp.status_code == 503
    assert resp.json["status"] == "starting"
    busy = client.post(QUERY, json={"question": "hello"})
    assert busy.status_code == 503
    assert busy.headers["Retry-After"] == "1"
    assert not (tmp_path / "db").exists()

    service = get_service(app)
    service.initialise()
    assert client.get("/readyz").status_code == 200
    service.mark_not_ready()
    assert client.get("/readyz").status_code == 503
    service.mark_ready()
    assert client.get("/readyz").json == {"status": "ready", "collections": 0}


def test_first_request_mode_opens_store_on_first_request(tmp_path: Path) -> None:
    app = create_app(RagConfig(data_dir=tmp_path / "db"), init="first_request")
    service = get_service(app)
    assert not service.wait_ready(0.2)
    assert not (tmp_path / "db").exists()
    assert app.test_client().get("/healthz").status_code == 200  # any request starts it
    assert service.wait_ready(30)
    assert app.test_client().get("/readyz").json == {"status": "ready", "collections": 0}


def test_readyz_reports_failure(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    app = create_app(RagConfig(data_dir=blocker / "db"))
    service = get_service(app)
    for _ in range(200):  # the background thread records the error
        if service.error:
            break
        service.wait_ready(0.05)
    assert not service.ready
    resp = app.test_client().get("/readyz")
    assert resp.status_code == 503
    assert resp.json["status"] == "failed"
    assert "not-a-dir" in resp.json["error"]


def test_openapi_lists_every_path(client: FlaskClient) -> None:
    doc = client.get("/openapi.json").json
    assert doc["openapi"].startswith("3.1")
    assert set(doc["paths"]) == {
        "/healthz",
        "/readyz",
        "/openapi.json",
        "/docs",
        "/v1/collections",
        "/v1/collections/{name}/documents",
        "/v1/collections/{name}/query",
        "/v1/collections/{name}/reindex",
    }
    schemas = doc["components"]["schemas"]
    assert schemas["QueryRequest"]["properties"]["question"]["maxLength"] == 2000
    assert schemas["IngestRequest"]["properties"]["documents"]["maxItems"] == 1000
    refs = [m for m in json.dumps(doc).split('"') if m.startswith("#/components/schemas/")]
    assert refs and all(r.rsplit("/", 1)[1] in schemas for r in refs)


def test_no_network_and_no_home_writes(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    shipped_docs: list[IngestDocument],
) -> None:
    """Ingest + query open no non-loopback connection and write nothing to $HOME."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect
    real_getaddrinfo = socket.getaddrinfo

    def is_local(host: Any) -> bool:
        return str(host) in {"localhost", "::1"} or str(host).startswith("127.")

    def guarded_connect(self: socket.socket, address: Any) -> Any:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not is_local(address[0]):
            attempts.append(address)
            raise OSError(f"network access attempted: {address}")
        return real_connect(self, address)

    def guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None and not is_local(host):
            attempts.append(host)
            raise OSError(f"name lookup attempted: {host}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", guarded_connect)
    monkeypatch.setattr(socket, "getaddrinfo", guarded_getaddrinfo)
    home = tmp_path / "home"
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    from chromadb.utils.embedding_functions import onnx_mini_lm_l6_v2  # noqa: PLC0415  HOME moved

    def no_default_ef(*_: Any, **__: Any) -> None:
        raise AssertionError("Chroma's default (downloading) embedding function was used")

    monkeypatch.setattr(onnx_mini_lm_l6_v2.ONNXMiniLM_L6_V2, "__call__", no_default_ef)

    app = create_app(RagConfig(data_dir=tmp_path / "db"))
    assert get_service(app).wait_ready(30)
    client = app.test_client()
    assert client.post(INGEST, json={"documents": shipped_docs}).status_code == 201
    assert "ten years" in ask(client, "How long are invoices retained?")["answer"]
    assert attempts == []
    assert not home.exists()
