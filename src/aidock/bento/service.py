"""BentoML services of the document AIs: ``POST /extract`` and ``POST /categorize``.

A Bento's entry module (written by ``aidock.bento.build``) pins one model and declares
its service in a few lines::

    IDENTITY = BentoIdentity(name="extraction", ...)

    @bentoml.service(**service_options(IDENTITY))
    class Extraction(ExtractionService):
        identity = IDENTITY
        model_ref = bentoml.models.BentoModel(IDENTITY.model_tag)

    finish(Extraction)

Besides BentoML's own ``/healthz``, ``/livez``, ``/readyz``, ``/metrics`` and Swagger UI
on ``/``, ``finish`` adds ``GET /info`` (what is served: name, version, schema version,
model digest; the name is ``$AIDOCK_AI_NAME``, which the image sets to the name the AI was
imported under, else the Bento's own) and makes validation errors name the field: BentoML
answers them with 400 and a generic message; here they are
``422 {"error": "text: ...", "field": "text"}`` (400 for a body that is not JSON), like the
other aidock AIs. It also limits request bodies to ``MAX_BODY_BYTES`` as received, chunked or
not (``aidock.bento.body_limit``): 413 beyond, where BentoML would read any body whole.

BentoML writes ``/docs.json`` itself, from a serialization-mode schema of the request model
and with its own error answers; ``finish`` corrects it on the way out (``DocsMiddleware``,
``document_api``): the request body is the JSON Schema of the model the API validates with
(``minLength``, the non-blank ``pattern``), the 400/413/422 answers are the ones the service
gives, ``GET /info`` is listed, and the document says OpenAPI 3.1, the dialect of those
schemas. Its Swagger UI page on ``/`` loads Google Tag Manager from the internet, and Swagger
UI's validator badge fetches an image from validator.swagger.io when the page is not read on
localhost; the same middleware drops the tracker and starts Swagger UI with
``validatorUrl: null`` (``offline_page``), so the page loads from the service only.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import bentoml
from pydantic import BaseModel
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from aidock.ais.base import AI
from aidock.ais.categorization import CategorizationAI
from aidock.ais.extraction import ExtractionAI
from aidock.bento.body_limit import MAX_BODY_BYTES, BodyLimitMiddleware
from aidock.schemas.bento import (
    CategorizationRequest,
    CategorizationResponse,
    ExtractionRequest,
    ExtractionResponse,
    RequestErrorResponse,
    SpanOut,
    check_compatible,
)

SERVICE_PORT = 3000
DEFAULT_HOST = "127.0.0.1"  # `bentoml serve` binds here unless --host says otherwise
MODEL_FILE = "model.joblib"
INFO_ROUTE = "/info"
DOCS_ROUTE = "/docs.json"  # BentoML's OpenAPI document
# The name an AI is deployed under (images/bento/Dockerfile sets it from its AI_NAME build arg).
AI_NAME_ENV = "AIDOCK_AI_NAME"
REQUEST_TIMEOUT_S = 60

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass(frozen=True)
class BentoIdentity:
    """What a Bento serves; answered on ``GET /info`` and stored as Bento labels."""

    name: str
    version: str
    schema_version: str
    model_sha256: str
    model_tag: str
    bento_tag: str
    aidock_version: str

    def as_dict(self) -> dict[str, str]:
        return asdict(self)


def service_options(identity: BentoIdentity) -> dict[str, Any]:
    """Keyword arguments of ``bentoml.service`` for an AI (name, bind address, limits)."""
    return {
        "name": identity.name,
        "description": f"aidock {identity.name} AI (schema {identity.schema_version})",
        "labels": {"ai.aidock.schema-version": identity.schema_version},
        "http": {"host": DEFAULT_HOST, "port": SERVICE_PORT},
        "workers": 1,
        "traffic": {"timeout": REQUEST_TIMEOUT_S},
    }


class DocumentService:
    """Loads the pinned model once per worker; subclasses add the API."""

    ai_class: ClassVar[type[AI]]
    api_route: ClassVar[str]
    request_model: ClassVar[type[BaseModel]]
    identity: ClassVar[BentoIdentity]
    model_ref: ClassVar[Any]  # bentoml.models.BentoModel; resolves to the stored model

    def __init__(self) -> None:
        stored = self.model_ref  # the descriptor resolves it in the Bento's model store
        path = stored.path_of(MODEL_FILE)
        # The digest is checked before anything is unpickled.
        self.ai = self.ai_class.load(path, sha256=self.identity.model_sha256)
        check_compatible(self.ai.schema_version, self.identity.schema_version)


class ExtractionService(DocumentService):
    """Finds invoice fields in a document."""

    ai_class = ExtractionAI
    api_route = "/extract"
    request_model = ExtractionRequest

    @bentoml.api(route="/extract", input_spec=ExtractionRequest, output_spec=ExtractionResponse)
    def extract(self, text: str) -> ExtractionResponse:
        """Field spans (label, character offsets, text, confidence) found in ``text``."""
        spans = self.ai.predict(text)
        return ExtractionResponse(
            spans=[
                SpanOut(
                    label=s.label, start=s.start, end=s.end, text=s.text,
                    confidence=min(max(float(s.confidence), 0.0), 1.0),
                )
                for s in spans
            ]
        )  # fmt: skip


class CategorizationService(DocumentService):
    """Tells the category of a document."""

    ai_class = CategorizationAI
    api_route = "/categorize"
    request_model = CategorizationRequest

    @bentoml.api(
        route="/categorize", input_spec=CategorizationRequest, output_spec=CategorizationResponse
    )
    def categorize(self, text: str) -> CategorizationResponse:
        """Most likely category, its probability and the probability of every category."""
        answer = self.ai.predict(text)
        return CategorizationResponse(
            category=answer["category"], confidence=answer["confidence"], scores=answer["scores"]
        )


SERVICE_BASES: dict[str, type[DocumentService]] = {
    "extraction": ExtractionService,
    "categorization": CategorizationService,
}


def served_info(identity: BentoIdentity) -> dict[str, str]:
    """What ``GET /info`` answers: the identity, named ``$AIDOCK_AI_NAME`` when that is set.

    An imported Bento is deployed under a name of the site's choosing (``aidock bento import
    --name``); the image carries it, so ``/info`` names the AI as the site knows it.
    ``bento_tag`` still names the Bento it was built from.
    """
    info = identity.as_dict()
    if deployed := os.environ.get(AI_NAME_ENV, "").strip():
        info["name"] = deployed
    return info


def info_app(identity: BentoIdentity) -> Starlette:
    """ASGI app answering ``GET /info`` with :func:`served_info` of the identity."""
    answer = served_info(identity)

    async def info(_: Request) -> JSONResponse:
        return JSONResponse(answer)

    return Starlette(routes=[Route(INFO_ROUTE, info, methods=["GET"])])


def finish(svc: bentoml.Service[Any]) -> bentoml.Service[Any]:
    """Add ``GET /info``, the body limit, field-naming validation errors and a true
    ``/docs.json`` to a service."""
    inner = svc.inner
    if not issubclass(inner, DocumentService):
        raise TypeError(f"{inner.__name__} is not a DocumentService")
    svc.mount_asgi_app(info_app(inner.identity), path="/", name="aidock-info")
    svc.add_asgi_middleware(BodyLimitMiddleware)  # 413 on the bytes received, chunked or not
    svc.add_asgi_middleware(FieldErrorMiddleware, routes=[inner.api_route])
    svc.add_asgi_middleware(
        DocsMiddleware, route=inner.api_route, request_model=inner.request_model
    )
    return svc


# ------------------------------------------------------------------ the OpenAPI document

ERROR_SCHEMA = "RequestErrorResponse"
_ERROR_REF = {"$ref": f"#/components/schemas/{ERROR_SCHEMA}"}
REFUSALS = {
    "400": "Body is not JSON",
    "413": f"Body larger than {MAX_BODY_BYTES} bytes",
    "422": "Invalid body: each problem as '<field>: <message>', the first field named",
}


def document_api(spec: dict[str, Any], route: str, request_model: type[BaseModel]) -> dict:
    """BentoML's OpenAPI document of ``route`` made true to what the service does."""
    post = spec.get("paths", {}).get(route, {}).get("post")
    if post is None:
        return spec
    spec["openapi"] = "3.1.0"  # the schemas below and BentoML's own are JSON Schema 2020-12
    body = request_model.model_json_schema(mode="validation")
    post["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    for status, text in REFUSALS.items():
        post["responses"][status] = {
            "description": text,
            "content": {"application/json": {"schema": _ERROR_REF}},
        }
    components = spec.setdefault("components", {}).setdefault("schemas", {})
    components[ERROR_SCHEMA] = RequestErrorResponse.model_json_schema(mode="serialization")
    spec["paths"][INFO_ROUTE] = {
        "get": {
            "summary": "What is served: name, version, schema version, model digest",
            "responses": {
                "200": {
                    "description": "The identity of the AI",
                    "content": {
                        "application/json": {
                            "schema": {"type": "object", "additionalProperties": {"type": "string"}}
                        }
                    },
                }
            },
        }
    }
    return spec


# BentoML's page (_bentoml_impl/server/main-openapi.html) brackets the tracker in comments.
_TRACKER = re.compile(
    rb"<!-- Google Tag Manager(?: \(noscript\))? -->.*?<!-- End Google Tag Manager[^>]*-->", re.S
)
_INITIALIZER = re.compile(
    rb'<script src="\./static_content/swagger-initializer\.js"[^>]*>\s*</script>'
)
# BentoML's static_content/swagger-initializer.js, plus validatorUrl: null.
_OFFLINE_INITIALIZER = b"""<script>
    window.onload = function () {
      window.ui = SwaggerUIBundle({
        url: "./docs.json",
        dom_id: "#swagger-ui",
        deepLinking: true,
        validatorUrl: null,
        presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset],
        plugins: [SwaggerUIBundle.plugins.DownloadUrl],
        layout: "StandaloneLayout"
      });
    };
    </script>"""
PAGE_ROUTE = "/"  # BentoML's Swagger UI page


def offline_page(html: bytes) -> bytes:
    """BentoML's Swagger UI page without the tracker, and without the validator badge."""
    return _INITIALIZER.sub(lambda _: _OFFLINE_INITIALIZER, _TRACKER.sub(b"", html))


class DocsMiddleware:
    """Rewrite BentoML's ``GET /docs.json`` with :func:`document_api` and its page on ``/``
    with :func:`offline_page`."""

    def __init__(self, app: ASGIApp, route: str, request_model: type[BaseModel]) -> None:
        self.app = app
        self.route = route
        self.request_model = request_model

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in (DOCS_ROUTE, PAGE_ROUTE):
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start":
                start = message
                return
            if start is not None and message["type"] == "http.response.pathsend":
                # A FileResponse (the page) where the server offers the pathsend extension.
                message = {"type": "http.response.body", "body": Path(message["path"]).read_bytes()}
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                body = b"".join(chunks)
                if start["status"] == 200:
                    body = self._rewrite(path, body)
                await _send_whole(send, start["status"], start.get("headers", []), body)

        await self.app(scope, receive, capture)

    def _rewrite(self, path: str, raw: bytes) -> bytes:
        if path == PAGE_ROUTE:
            return offline_page(raw)
        try:
            spec = json.loads(raw)
        except ValueError:
            return raw
        if not isinstance(spec, dict):
            return raw
        return json.dumps(document_api(spec, self.route, self.request_model)).encode()


async def _send_whole(send: Send, status: int, headers: Sequence[Any], body: bytes) -> None:
    """Answer with ``body``, the original headers less Content-Length (set anew)."""
    kept = [(k, v) for k, v in headers if k.lower() != b"content-length"]
    kept.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": kept})
    await send({"type": "http.response.body", "body": body, "more_body": False})


# ------------------------------------------------------------------ validation errors


def field_error(body: Any) -> tuple[int, dict[str, Any]] | None:
    """(status, aidock error body) for BentoML's validation answer, or None if it is not one.

    BentoML answers ``{"error": "1 validation error for X", "detail": [pydantic errors]}``.
    """
    if not isinstance(body, dict) or not isinstance(body.get("detail"), list):
        return None
    errors = [
        {k: v for k, v in e.items() if k != "url"}  # links to pydantic's site: not offline
        for e in body["detail"]
        if isinstance(e, dict)
    ]
    if not errors:
        return None
    parts: list[str] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc") or ()]
        parts.append(f"{'.'.join(loc) or 'request body'}: {err.get('msg', 'invalid')}")
    first_loc = errors[0].get("loc") or ()
    field = str(first_loc[0]) if first_loc else None
    status = 400 if any(e.get("type") == "json_invalid" for e in errors) else 422
    return status, {"error": "; ".join(parts), "field": field, "detail": errors}


class FieldErrorMiddleware:
    """Rewrite BentoML's 400 validation answers on ``routes`` with :func:`field_error`."""

    def __init__(self, app: ASGIApp, routes: Sequence[str]) -> None:
        self.app = app
        self.routes = frozenset(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("path") not in self.routes:
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []

        async def capture(message: Message) -> None:
            nonlocal start
            if message["type"] == "http.response.start" and message["status"] == 400:
                start = message
                return
            if start is None or message["type"] != "http.response.body":
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                await self._send_rewritten(send, start, b"".join(chunks))

        await self.app(scope, receive, capture)

    @staticmethod
    async def _send_rewritten(send: Send, start: Message, raw: bytes) -> None:
        status, body = start["status"], raw
        try:
            rewritten = field_error(json.loads(raw))
        except ValueError:
            rewritten = None
        if rewritten is not None:
            status, payload = rewritten
            body = json.dumps(payload).encode()
        await _send_whole(send, status, start.get("headers", []), body)
