"""The OpenAPI document of the agent API, generated from its wire models in ``aidock.schemas``.

Request bodies and path parameters are the JSON Schemas of the models and types the agent
validates with (``InstanceRequest``, ``AiName``), so the document and the service accept
the same requests; why this and not flask-openapi3 or spectree is said in
``aidock.api_docs``. Every route of the app is here (a unit test compares the url_map);
Swagger UI shows it on ``GET /docs``.
"""

from __future__ import annotations

from typing import Any

from pydantic import TypeAdapter

from aidock.api_docs import answer, component_schemas, errors, ref
from aidock.schemas.agent import (
    AiList,
    AiName,
    HealthResponse,
    InstanceList,
    InstanceOut,
    InstanceRequest,
    ScaleRequest,
)

AUTH = {401: "Missing or wrong bearer token"}
REGISTRY = {
    502: "The registry failed or refused the agent's credentials",
    503: "The registry is unreachable or in maintenance",
}


def _op(summary: str, ok: dict[str, Any], codes: dict[int, str], *, secured: bool = True) -> dict:
    op: dict[str, Any] = {"summary": summary, "responses": {**ok, **errors(codes)}}
    if secured:
        op["security"] = [{"bearer": []}]
        op["responses"].update(errors(AUTH))
    return op


def build_openapi(version: str = "0.1.0") -> dict[str, Any]:
    """OpenAPI 3.1 description of the agent API, schemas from the pydantic models."""
    schemas = component_schemas(
        inputs=[InstanceRequest, ScaleRequest],
        outputs=[InstanceOut, InstanceList, HealthResponse, AiList],
    )
    ai_name = {
        "name": "name",
        "in": "path",
        "required": True,
        "description": "AI name (a repository below the site's namespace).",
        "schema": TypeAdapter(AiName).json_schema(),
    }
    instance_id = {
        "name": "instance_id",
        "in": "path",
        "required": True,
        "description": "Instance id, as POST /v1/instances answered it.",
        "schema": {"type": "string"},
    }
    create = _op(
        "Start an AI and wait until it is ready",
        {"201": answer("Started and ready", "InstanceOut")},
        {
            400: "Body is not JSON",
            403: "The name or tag would leave the configured registry/namespace",
            404: "AI not in the catalog, or no such version in the registry",
            413: "Body larger than 16384 bytes",
            415: "Content-Type is not application/json",
            422: "Malformed body (field named), an image without a valid AI manifest, or "
            "replicas above 1 without the swarm backend (field replicas)",
            429: "max_instances reached (replicas count)",
            502: "Registry failed, or the AI failed to start",
            503: "Docker or the registry unreachable",
            504: "The AI was not ready within its start timeout (container removed)",
        },
    )
    create["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": ref("InstanceRequest")}},
    }
    scale = _op(
        "Scale a swarm instance; answers once every replica is ready",
        {"200": answer("Scaled and ready", "InstanceOut")},
        {
            400: "Body is not JSON",
            404: "No such instance",
            413: "Body larger than 16384 bytes",
            415: "Content-Type is not application/json",
            422: "Malformed body, or replicas the agent cannot run (field replicas)",
            429: "max_instances reached (replicas count)",
            502: "Swarm refused the update, or every task failed",
            503: "Docker unreachable",
            504: "Not every replica was ready within the start timeout (the service keeps "
            "the new count)",
        },
    )
    scale["requestBody"] = {
        "required": True,
        "content": {"application/json": {"schema": ref("ScaleRequest")}},
    }
    paths: dict[str, Any] = {
        "/healthz": {
            "get": _op(
                "Liveness: 200 while Docker answers, 503 (degraded) while it does not",
                {
                    "200": answer("Docker answers", "HealthResponse"),
                    "503": answer("Docker does not answer", "HealthResponse"),
                },
                {},
                secured=False,
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics (text format 0.0.4)",
                {"200": {"description": "metrics", "content": {"text/plain": {}}}},
                {},
                secured=False,
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document",
                {"200": {"description": "OpenAPI 3.1", "content": {"application/json": {}}}},
                {},
                secured=False,
            )
        },
        "/docs": {
            "get": _op(
                "Swagger UI of this document (served offline)",
                {"200": {"description": "HTML page", "content": {"text/html": {}}}},
                {},
                secured=False,
            )
        },
        "/v1/ais": {
            "get": _op(
                "The AIs of the registry and their versions",
                {"200": answer("The catalog", "AiList")},
                REGISTRY,
            ),
        },
        "/v1/ais/{name}": {
            "parameters": [ai_name],
            "get": _op(
                "One AI of the registry, its versions read now",
                {"200": answer("The AI", "AiOut")},
                {
                    403: "The name would leave the configured registry/namespace",
                    404: "No such AI in the registry",
                    422: "Not an AI name",
                    **REGISTRY,
                },
            ),
        },
        "/v1/instances": {
            "get": _op("Running instances", {"200": answer("The instances", "InstanceList")}, {}),
            "post": create,
        },
        "/v1/instances/{instance_id}": {
            "parameters": [instance_id],
            "get": _op(
                "One instance (counts as a keep-alive; swarm: its task endpoints read now)",
                {"200": answer("The instance", "InstanceOut")},
                {404: "No such instance"},
            ),
            "patch": scale,
            "delete": _op(
                "Stop and remove it",
                {"204": answer("Removed")},
                {404: "No such instance", 503: "Docker unreachable"},
            ),
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {"title": "aidock agent", "version": version},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
