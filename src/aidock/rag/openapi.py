"""The OpenAPI document of the RAG API, generated from its wire models in ``aidock.schemas``.

Request bodies and the collection-name parameter are the JSON Schemas of the models and
types the service validates with (``IngestRequest``, ``QueryRequest``, ``CollectionName``),
so the document and the service accept the same requests: the metadata key pattern, the
non-blank texts, ``top_k`` as a JSON Schema integer. Why this and not flask-openapi3 or
spectree is said in ``aidock.api_docs``. Every route of the app is here (a unit test compares
the url_map); Swagger UI shows it on ``GET /docs``.
"""

from __future__ import annotations

from typing import Any

from aidock.api_docs import answer, component_schemas, errors, ref
from aidock.schemas.rag import (
    COLLECTION_NAME_RULE,
    CollectionList,
    HealthResponse,
    IngestRequest,
    IngestResponse,
    QueryRequest,
    QueryResponse,
    ReadyResponse,
    ReindexResponse,
    collection_name_schema,
)

NOT_READY = {503: "Not ready yet (Retry-After: 1)"}


def _op(summary: str, ok: dict[str, Any], codes: dict[int, str], body: str | None = None) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **errors(codes)}}
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": ref(body)}},
        }
    return op


def build_openapi(version: str = "0.1.0", max_body_bytes: int | None = None) -> dict[str, Any]:
    """OpenAPI 3.1 description of the service, schemas from the pydantic models."""
    schemas = component_schemas(
        inputs=[IngestRequest, QueryRequest],
        outputs=[
            IngestResponse,
            QueryResponse,
            ReindexResponse,
            CollectionList,
            HealthResponse,
            ReadyResponse,
        ],
    )
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": f"Collection name; {COLLECTION_NAME_RULE}.",
        "schema": collection_name_schema(),
    }
    limit = f"{max_body_bytes} bytes" if max_body_bytes else "the configured limit"
    bad_input = {
        400: "Body is not JSON",
        413: f"Body larger than {limit}",
        415: "Content-Type is not application/json",
        422: "Invalid collection name or body (field named)",
    }
    paths = {
        "/healthz": {"get": _op("Liveness", {"200": answer("Alive", "HealthResponse")}, {})},
        "/readyz": {
            "get": _op(
                "Readiness",
                {"200": answer("Ready", "ReadyResponse")},
                {503: "Starting, or the store failed to open (error says why)"},
            ),
        },
        "/openapi.json": {
            "get": _op(
                "This document",
                {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                {},
            )
        },
        "/docs": {
            "get": _op(
                "Swagger UI of this document (served offline)",
                {"200": {"description": "HTML page", "content": {"text/html": {}}}},
                {},
            )
        },
        "/v1/collections": {
            "get": _op(
                "List collections", {"200": answer("The collections", "CollectionList")}, NOT_READY
            ),
        },
        "/v1/collections/{name}/documents": {
            "parameters": [name_param],
            "post": _op(
                "Ingest documents",
                {"201": answer("Ingested", "IngestResponse")},
                {
                    **bad_input,
                    409: "Collection built with another embedder (reindex it)",
                    502: "Embedding service failed",
                    **NOT_READY,
                },
                "IngestRequest",
            ),
        },
        "/v1/collections/{name}/query": {
            "parameters": [name_param],
            "post": _op(
                "Ask a question",
                {"200": answer("The answer and its sources", "QueryResponse")},
                {
                    **bad_input,
                    404: "Unknown collection",
                    409: "Collection built with another embedder (reindex it)",
                    502: "The embedding server failed (an LLM chat failure is answered "
                    "offline with a warning instead)",
                    **NOT_READY,
                },
                "QueryRequest",
            ),
        },
        "/v1/collections/{name}/reindex": {
            "parameters": [name_param],
            "post": _op(
                "Re-embed a collection's passages with the service's embedder",
                {"200": answer("Reindexed", "ReindexResponse")},
                {
                    404: "Unknown collection",
                    422: "Invalid collection name",
                    502: "Embedding service failed",
                    **NOT_READY,
                },
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "aidock RAG AI", "version": version},
        "paths": paths,
        "components": {"schemas": schemas},
    }
