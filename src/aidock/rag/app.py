"""Flask application of the RAG AI (``create_app`` factory)."""

from __future__ import annotations

import logging
import os
import threading
from importlib import metadata
from typing import Literal, TypeVar

from flask import Flask, Response, jsonify
from pydantic import BaseModel

from aidock.api_docs import docs_blueprint
from aidock.http_errors import json_error as _error
from aidock.http_errors import parse_json_body, register_error_handlers
from aidock.rag.answer import extractive_answer, llm_answer
from aidock.rag.config import RagConfig
from aidock.rag.embeddings import Embedder, make_embedder, sentence_embedder
from aidock.rag.llm import LLMClient, LLMError
from aidock.rag.openapi import build_openapi
from aidock.rag.store import (
    CollectionNotFoundError,
    DuplicateDocumentError,
    EmbedderMismatchError,
    RagStore,
)
from aidock.schemas.rag import (
    COLLECTION_NAME_RULE,
    CollectionList,
    IngestRequest,
    IngestResponse,
    QueryRequest,
    QueryResponse,
    ReadyResponse,
    ReindexResponse,
    valid_collection_name,
)

log = logging.getLogger(__name__)

EXTENSION = "aidock_rag"
M = TypeVar("M", bound=BaseModel)
InitMode = Literal["background", "first_request", "manual"]


class ApiProblem(Exception):
    """An error answered as ``{"error": message, "field": field}`` with ``status``."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.field = field


class RagService:
    """Holds the store; it is opened in a background thread (readiness)."""

    def __init__(self, config: RagConfig) -> None:
        self.config = config
        self.store: RagStore | None = None
        self.error: str | None = None
        self.scorer: Embedder | None = None
        self.chat: LLMClient | None = LLMClient.from_config(config) if config.uses_llm else None
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._started_pid: int | None = None

    @property
    def ready(self) -> bool:
        """True once the store is open and the embedder loaded."""
        return self._ready.is_set()

    def start(self) -> None:
        """Open the store in a background thread (no-op if already started in this process)."""
        with self._lock:
            if self._started_pid == os.getpid():
                return
            self._started_pid = os.getpid()
            self._ready.clear()
            self.store = None
        threading.Thread(target=self.initialise, name="rag-init", daemon=True).start()

    def initialise(self) -> None:
        """Open the Chroma store and load the embedder (blocking), then flip ``ready``."""
        try:
            embedder = make_embedder(self.config)
            self.scorer = sentence_embedder(embedder)
            self.store = RagStore(self.config.data_dir, embedder)
            self.error = None
        except Exception as exc:
            log.exception("cannot open the RAG store in %s", self.config.data_dir)
            self.error = f"cannot open the store in {self.config.data_dir}: {exc}"
            return
        self._ready.set()
        log.info("RAG store ready in %s (embedder %s)", self.config.data_dir, embedder.embedder_id)

    def wait_ready(self, timeout: float | None = None) -> bool:
        """Block until ready (or ``timeout``); return readiness."""
        return self._ready.wait(timeout)

    def require_store(self) -> RagStore:
        """The store, or a 503 problem while it is not ready."""
        if not self.ready or self.store is None:
            raise ApiProblem(503, self.error or "the service is starting; retry shortly")
        return self.store

    def mark_not_ready(self) -> None:
        """Flip readiness off (tests, shutdown)."""
        self._ready.clear()

    def mark_ready(self) -> None:
        """Flip readiness on again once a store is open."""
        if self.store is not None:
            self._ready.set()


def _parse_body(model: type[M], max_bytes: int) -> M:
    return parse_json_body(model, problem=ApiProblem, max_bytes=max_bytes)


def _check_name(name: str) -> None:
    if not valid_collection_name(name):
        raise ApiProblem(422, f"collection: name {name!r} {COLLECTION_NAME_RULE}", "collection")


def _version() -> str:
    try:
        return metadata.version("aidock")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def create_app(config: RagConfig | None = None, *, init: InitMode = "background") -> Flask:
    """Build the RAG Flask app (config from the environment by default).

    ``init`` says when the Chroma store is opened, in a background thread:
    ``"background"`` now; ``"first_request"`` on the first request served by this
    process (use it when the app is imported before a fork, e.g. ``gunicorn --preload``:
    an open Chroma client does not survive a fork); ``"manual"`` only through
    ``get_service(app).start()`` or ``.initialise()``. Until then ``/readyz`` is 503.
    """
    config = config or RagConfig.from_env()
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = config.max_body_bytes
    app.json.sort_keys = False  # type: ignore[attr-defined]
    service = RagService(config)
    app.extensions[EXTENSION] = service
    openapi = build_openapi(_version(), config.max_body_bytes)

    @app.errorhandler(ApiProblem)
    def _problem(exc: ApiProblem) -> tuple[Response, int]:
        resp, status = _error(exc.status, exc.message, exc.field)
        if status == 503:
            resp.headers["Retry-After"] = "1"
        return resp, status

    register_error_handlers(app, max_body_bytes=config.max_body_bytes, log=log)
    app.register_blueprint(docs_blueprint("aidock RAG AI"))

    if init == "first_request":

        @app.before_request
        def _open_store() -> None:
            service.start()

    @app.get("/healthz")
    def healthz() -> Response:
        return jsonify({"status": "ok"})

    @app.get("/readyz")
    def readyz() -> tuple[Response, int]:
        if service.ready and service.store is not None:
            body = ReadyResponse(status="ready", collections=service.store.count_collections())
            return jsonify(body.model_dump(exclude_none=True)), 200
        if service.error:
            return jsonify({"status": "failed", "error": service.error, "field": None}), 503
        starting = {"status": "starting", "error": "the service is starting", "field": None}
        return jsonify(starting), 503

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return jsonify(openapi)

    @app.get("/v1/collections")
    def list_collections() -> Response:
        store = service.require_store()
        body = CollectionList(
            collections=store.list_collections(), default=config.default_collection
        )
        return jsonify(body.model_dump())

    @app.post("/v1/collections/<name>/documents")
    def ingest(name: str) -> tuple[Response, int]:
        _check_name(name)
        req = _parse_body(IngestRequest, config.max_body_bytes)
        store = service.require_store()
        try:
            docs, passages = store.ingest(name, req.documents)
        except DuplicateDocumentError as exc:
            raise ApiProblem(422, f"{exc.field}: {exc}", exc.field) from exc
        except EmbedderMismatchError as exc:
            raise ApiProblem(409, str(exc), "collection") from exc
        except LLMError as exc:
            raise ApiProblem(502, str(exc)) from exc
        body = IngestResponse(collection=name, documents=docs, passages=passages)
        return jsonify(body.model_dump()), 201

    @app.post("/v1/collections/<name>/reindex")
    def reindex(name: str) -> Response:
        _check_name(name)
        store = service.require_store()
        try:
            passages, previous = store.reindex(name)
        except CollectionNotFoundError as exc:
            raise ApiProblem(404, str(exc), "collection") from exc
        except LLMError as exc:
            raise ApiProblem(502, str(exc)) from exc
        body = ReindexResponse(
            collection=name,
            passages=passages,
            embedder=store.embedder.embedder_id,
            previous_embedder=previous,
        )
        return jsonify(body.model_dump())

    @app.post("/v1/collections/<name>/query")
    def query(name: str) -> Response:
        _check_name(name)
        req = _parse_body(QueryRequest, config.max_body_bytes)
        store = service.require_store()
        top_k = req.top_k or config.top_k
        try:
            hits = store.query(name, req.question, top_k, config.retrieval)
        except CollectionNotFoundError as exc:
            raise ApiProblem(404, str(exc), "collection") from exc
        except EmbedderMismatchError as exc:
            raise ApiProblem(409, str(exc), "collection") from exc
        except LLMError as exc:  # RAG_EMBEDDER=openai: no retrieval without the server
            raise ApiProblem(502, str(exc)) from exc
        warning = None
        if service.chat is not None:
            try:
                answer = llm_answer(service.chat, config.openai_chat_model, req.question, hits)
                body = QueryResponse(answer=answer, sources=hits, mode="openai", collection=name)
                return jsonify(body.model_dump())
            except LLMError as exc:
                log.warning("answering offline: %s", exc)
                warning = f"{exc}; this is the offline extractive answer"
        scorer = service.scorer
        answer = extractive_answer(req.question, hits, scorer.embed_query if scorer else None)
        body = QueryResponse(
            answer=answer, sources=hits, mode="offline", collection=name, warning=warning
        )
        return jsonify(body.model_dump())

    if init == "background":
        service.start()
    return app


def get_service(app: Flask) -> RagService:
    """The ``RagService`` of an app made by ``create_app``."""
    return app.extensions[EXTENSION]
