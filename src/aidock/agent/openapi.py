"""The OpenAPI document of the agent API, built from its wire models in ``aidock.schemas``."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aidock.schemas.agent import HealthResponse, InstanceList, InstanceOut, InstanceRequest
from aidock.schemas.errors import ErrorResponse


def _ref(model: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model}"}


def _json(model: str) -> dict[str, Any]:
    return {"application/json": {"schema": _ref(model)}}


def _op(summary: str, ok: tuple[str, str | None], **errors: str) -> dict[str, Any]:
    status, model = ok
    responses: dict[str, Any] = {status: {"description": "OK"}}
    if model:
        responses[status]["content"] = _json(model)
    for code, text in errors.items():
        responses[code.lstrip("_")] = {"description": text, "content": _json("ErrorResponse")}
    return {"summary": summary, "responses": responses}


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    """OpenAPI 3.1 description of the agent API, schemas from the pydantic models."""
    models: list[type[BaseModel]] = [
        InstanceRequest,
        InstanceOut,
        InstanceList,
        HealthResponse,
        ErrorResponse,
    ]
    _, defs = models_json_schema(
        [(m, "validation" if m is InstanceRequest else "serialization") for m in models],
        ref_template="#/components/schemas/{model}",
    )
    auth = {"_401": "Missing or wrong bearer token"}
    create = _op(
        "Start an AI and wait until it is ready",
        ("201", "InstanceOut"),
        **auth,
        _400="Invalid JSON",
        _403="Image outside the configured registry/namespace",
        _404="AI not in the catalog, or no such image in the registry",
        _415="Content-Type is not application/json",
        _422="Malformed body (field named)",
        _429="max_instances reached",
        _502="Registry unreachable, or the AI failed to start",
        _503="Docker unreachable",
        _504="The AI was not ready within its start timeout (container removed)",
    )
    create["requestBody"] = {"required": True, "content": _json("InstanceRequest")}
    id_param = {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}}
    secured = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/healthz": {"get": _op("Liveness", ("200", "HealthResponse"))},
        "/metrics": {
            "get": {
                "summary": "Prometheus metrics (text format 0.0.4)",
                "responses": {"200": {"description": "metrics"}},
            }
        },
        "/openapi.json": {
            "get": {"summary": "This document", "responses": {"200": {"description": "OpenAPI"}}}
        },
        "/v1/instances": {
            "get": {**_op("List instances", ("200", "InstanceList"), **auth), "security": secured},
            "post": {**create, "security": secured},
        },
        "/v1/instances/{id}": {
            "parameters": [id_param],
            "get": {
                **_op("One instance (keep-alive)", ("200", "InstanceOut"), **auth, _404="Unknown"),
                "security": secured,
            },
            "delete": {
                **_op("Stop and remove it", ("204", None), **auth, _404="Unknown"),
                "security": secured,
            },
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "aidock agent", "version": version},
        "paths": paths,
        "components": {
            "schemas": defs.get("$defs", {}),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
