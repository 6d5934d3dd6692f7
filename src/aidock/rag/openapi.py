"""The OpenAPI document of the RAG API, built from its wire models in ``aidock.schemas``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aidock.schemas.errors import ErrorResponse
from aidock.schemas.rag import (
    COLLECTION_NAME_PATTERN,
    COLLECTION_NAME_RULE,
    CollectionInfo,
    CollectionList,
    DocumentIn,
    HealthResponse,
    IngestRequest,
    IngestResponse,
    QueryRequest,
    QueryResponse,
    ReadyResponse,
    Source,
)


def _op(
    summary: str, ok: tuple[str, str], body: str | None = None, **errors: str
) -> dict[str, Any]:
    status, model = ok
    op: dict[str, Any] = {
        "summary": summary,
        "responses": {
            status: {
                "description": "OK",
                "content": {"application/json": {"schema": _ref(model)}},
            },
            **{
                code.lstrip("_"): {
                    "description": text,
                    "content": {"application/json": {"schema": _ref("ErrorResponse")}},
                }
                for code, text in errors.items()
            },
        },
    }
    if body:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": _ref(body)}},
        }
    return op


def _ref(model: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model}"}


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    """OpenAPI 3.1 description of the service, schemas from the pydantic models."""
    models: list[type[BaseModel]] = [
        DocumentIn,
        IngestRequest,
        IngestResponse,
        QueryRequest,
        Source,
        QueryResponse,
        CollectionInfo,
        CollectionList,
        HealthResponse,
        ReadyResponse,
        ErrorResponse,
    ]
    inputs = {IngestRequest, QueryRequest, DocumentIn}
    _, defs = models_json_schema(
        [(m, "validation" if m in inputs else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    name_param = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": f"Collection name; {COLLECTION_NAME_RULE}.",
        "schema": {"type": "string", "pattern": COLLECTION_NAME_PATTERN},
    }
    bad_input = {
        "_400": "Invalid JSON",
        "_413": "Body too large",
        "_415": "Content-Type is not application/json",
        "_422": "Validation error",
    }
    paths = {
        "/healthz": {"get": _op("Liveness", ("200", "HealthResponse"))},
        "/readyz": {
            "get": _op("Readiness", ("200", "ReadyResponse"), _503="Not ready yet"),
        },
        "/openapi.json": {
            "get": {
                "summary": "This document",
                "responses": {"200": {"description": "OpenAPI 3.1 document"}},
            }
        },
        "/v1/collections": {
            "get": _op("List collections", ("200", "CollectionList"), _503="Not ready yet"),
        },
        "/v1/collections/{name}/documents": {
            "parameters": [name_param],
            "post": _op(
                "Ingest documents",
                ("201", "IngestResponse"),
                "IngestRequest",
                **bad_input,
                _409="Collection built with another embedder",
                _502="Embedding service failed",
                _503="Not ready yet",
            ),
        },
        "/v1/collections/{name}/query": {
            "parameters": [name_param],
            "post": _op(
                "Ask a question",
                ("200", "QueryResponse"),
                "QueryRequest",
                **bad_input,
                _404="Unknown collection",
                _409="Collection built with another embedder",
                _502="Embedding or chat service failed",
                _503="Not ready yet",
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "aidock RAG AI", "version": version},
        "paths": paths,
        "components": {"schemas": defs.get("$defs", {})},
    }
