"""Flask application of the agent (``create_app`` factory).

``/v1/*`` needs ``Authorization: Bearer <token>`` (the token file's content, compared in
constant time). ``/healthz``, ``/metrics``, ``/openapi.json`` and its Swagger UI page
``/docs`` are open: they reveal counts, not endpoints. Errors are
``{"error": message, "field": name-or-null}``.
"""

from __future__ import annotations

import hmac
import logging
from importlib import metadata
from typing import Any, Literal

from flask import Flask, Response, jsonify, request

from aidock.agent import SCHEMA_LABEL
from aidock.agent.catalog import AiEntry, AiVersion, RegistryCatalog
from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import DockerOps
from aidock.agent.errors import AgentError
from aidock.agent.instance import Catalog, ContainerOps, LostHandler, Prober, http_ready
from aidock.agent.instances import InstanceManager
from aidock.agent.metrics import CONTENT_TYPE
from aidock.agent.openapi import build_openapi
from aidock.agent.signatures import RegistryReader, SignatureVerifier, load_public_key
from aidock.agent.swarm_ops import SwarmOps
from aidock.api_docs import docs_blueprint
from aidock.http_errors import json_error as _error
from aidock.http_errors import parse_json_body, register_error_handlers
from aidock.schemas.agent import (
    AiList,
    AiOut,
    AiVersionOut,
    HealthResponse,
    InstanceList,
    InstanceRequest,
    ScaleRequest,
)

log = logging.getLogger(__name__)

EXTENSION = "aidock_agent"
MAX_BODY_BYTES = 16_384
InitMode = Literal["eager", "first_request", "manual"]


class BadRequest(AgentError):
    """A malformed request (status set per instance)."""

    def __init__(self, status: int, message: str, field: str | None = None) -> None:
        super().__init__(message, field)
        self.status = status


def _parse_request(config: AgentConfig) -> InstanceRequest:
    def refuse_outside(data: Any) -> None:
        # 403 (outside the namespace) or 422 with the agent's words, before the model's 422.
        if isinstance(data, dict):
            ai, version = data.get("ai"), data.get("version")
            if isinstance(ai, str) and isinstance(version, str):
                config.image_for(ai, version)

    return parse_json_body(InstanceRequest, problem=BadRequest, precheck=refuse_outside)


def _version() -> str:
    try:
        return metadata.version("aidock")
    except metadata.PackageNotFoundError:
        return "0.0.0"


def _make_ops(config: AgentConfig) -> ContainerOps:
    if config.backend == "swarm":
        return SwarmOps(config)
    return DockerOps(config)


def make_catalog(config: AgentConfig) -> RegistryCatalog:
    """The registry catalog of ``config`` (its API URL, credentials, CA and TTL)."""

    def auth() -> tuple[str, str] | None:
        creds = config.registry_auth()
        return (creds["username"], creds["password"]) if creds else None

    return RegistryCatalog(
        config.registry_api,
        config.namespace,
        auth=auth,
        ca_file=config.registry_ca_file,
        ttl=config.catalog_ttl,
    )


def make_verifier(config: AgentConfig, catalog: Catalog) -> SignatureVerifier | None:
    """The signature check of ``config`` (None without ``signature_public_key``).

    It reads through the catalog's registry client; a catalog without one (a fake) cannot
    serve it, which is a configuration error, not a reason to skip the check.
    """
    if config.signature_public_key is None:
        return None
    if not isinstance(catalog, RegistryReader):
        raise TypeError("signature_public_key needs a catalog that reads the registry (fetch)")
    return SignatureVerifier(catalog, load_public_key(config.signature_public_key))


def version_out(version: AiVersion, signed: bool | None = None) -> AiVersionOut:
    """The API representation of one version."""
    manifest = version.manifest
    return AiVersionOut(
        version=version.tag,
        usable=version.usable,
        digest=version.digest,
        size=version.size,
        created=version.created,
        schema_version=manifest.schema_version if manifest else version.labels.get(SCHEMA_LABEL),
        port=manifest.port if manifest else None,
        memory=manifest.memory if manifest else None,
        cpus=manifest.cpus if manifest else None,
        problem=str(version.problem) if version.problem else None,
        label=version.problem.label if version.problem else None,
        signed=signed,
    )


def ai_out(entry: AiEntry, verifier: SignatureVerifier | None = None) -> AiOut:
    """The API representation of one AI (with ``verifier``: whether each version is signed)."""
    return AiOut(
        name=entry.name,
        versions=[
            version_out(v, verifier.signed(entry.name, v.digest) if verifier else None)
            for v in entry.versions
        ],
    )


def create_app(
    config: AgentConfig | None = None,
    *,
    ops: ContainerOps | None = None,
    catalog: Catalog | None = None,
    probe: Prober = http_ready,
    init: InitMode = "eager",
    reaper: bool = True,
    on_docker_lost: LostHandler | None = None,
) -> Flask:
    """Build the agent app (settings from the environment/``AIDOCK_AGENT_CONFIG`` by default).

    ``init`` says when the manager starts (network, adoption of this owner's containers,
    supervisor thread): ``"eager"`` now, ``"first_request"`` in the process serving the
    first request (``gunicorn``; the registry of instances lives in memory, so one worker),
    ``"manual"`` through ``get_manager(app).start()``. ``on_docker_lost`` runs when Docker
    stays silent past ``docker_lost_after`` (the service ends its process there). The token
    file is read now: a missing or short token fails here, not on the first request.
    """
    config = config or AgentConfig.load()
    token = config.api_token().encode("utf-8")
    catalog = catalog or make_catalog(config)
    verifier = make_verifier(config, catalog)
    manager = InstanceManager(
        config,
        ops or _make_ops(config),
        catalog,
        probe=probe,
        on_docker_lost=on_docker_lost,
        signatures=verifier,
    )
    app = Flask(__name__)
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.extensions[EXTENSION] = manager
    openapi = build_openapi(_version())

    @app.errorhandler(AgentError)
    def _agent_error(exc: AgentError) -> tuple[Response, int]:
        resp, status = _error(exc.status, exc.message, exc.field)
        if status in (429, 503):
            resp.headers["Retry-After"] = "5"
        if status >= 500:
            log.warning("%s %s -> %s: %s", request.method, request.path, status, exc.message)
        return resp, status

    register_error_handlers(app, max_body_bytes=MAX_BODY_BYTES, log=log)
    app.register_blueprint(docs_blueprint("aidock agent API"))

    @app.before_request
    def _authenticate() -> tuple[Response, int] | None:
        if init == "first_request":
            manager.start(reaper=reaper)
        if not request.path.startswith("/v1/") and request.path != "/v1":
            return None
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given.strip():
            resp, status = _error(401, "missing bearer token (Authorization: Bearer <token>)")
        elif not hmac.compare_digest(given.strip().encode("utf-8"), token):
            resp, status = _error(401, "wrong bearer token")
        else:
            return None
        resp.headers["WWW-Authenticate"] = 'Bearer realm="aidock-agent"'
        return resp, status

    @app.get("/healthz")
    def healthz() -> tuple[Response, int]:
        docker_ok = manager.ops.ping()
        body = HealthResponse(
            status="ok" if docker_ok else "degraded",
            docker=docker_ok,
            instances=len(manager.list()),
            owner_id=config.owner_id,
        )
        return jsonify(body.model_dump()), 200 if docker_ok else 503

    @app.get("/metrics")
    def metrics() -> Response:
        text = manager.metrics.render(manager.running_by_ai(), config.max_instances)
        return Response(text, content_type=CONTENT_TYPE)

    @app.get("/openapi.json")
    def openapi_json() -> Response:
        return jsonify(openapi)

    @app.get("/v1/ais")
    def list_ais() -> Response:
        entries = manager.catalog.list()
        body = AiList(
            registry=config.registry, namespace=config.namespace, ais=[ai_out(e) for e in entries]
        )
        return jsonify(body.model_dump(mode="json"))

    @app.get("/v1/ais/<name>")
    def get_ai(name: str) -> Response:
        config.image_for(name, "latest")  # 403/422 for a name outside the namespace
        entry = manager.catalog.entry(name)
        return jsonify(ai_out(entry, manager.signatures).model_dump(mode="json"))

    @app.post("/v1/instances")
    def create_instance() -> tuple[Response, int]:
        req = _parse_request(config)
        instance = manager.create(req.ai, req.version, req.replicas)
        resp = jsonify(instance.out(config.idle_ttl).model_dump(mode="json"))
        resp.headers["Location"] = f"/v1/instances/{instance.id}"
        return resp, 201

    @app.get("/v1/instances")
    def list_instances() -> Response:
        body = InstanceList(
            instances=[i.out(config.idle_ttl) for i in manager.list()],
            max_instances=config.max_instances,
        )
        return jsonify(body.model_dump(mode="json"))

    @app.get("/v1/instances/<instance_id>")
    def get_instance(instance_id: str) -> Response:
        instance = manager.describe(instance_id)
        return jsonify(instance.out(config.idle_ttl).model_dump(mode="json"))

    @app.patch("/v1/instances/<instance_id>")
    def scale_instance(instance_id: str) -> Response:
        req = parse_json_body(ScaleRequest, problem=BadRequest)
        instance = manager.scale(instance_id, req.replicas)
        return jsonify(instance.out(config.idle_ttl).model_dump(mode="json"))

    @app.delete("/v1/instances/<instance_id>")
    def delete_instance(instance_id: str) -> Response:
        manager.terminate(instance_id)
        return Response(status=204)

    if init == "eager":
        manager.start(reaper=reaper)
    return app


def get_manager(app: Flask) -> InstanceManager:
    """The ``InstanceManager`` of an app made by ``create_app``."""
    return app.extensions[EXTENSION]
