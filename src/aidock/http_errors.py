"""JSON errors shared by aidock's Flask services: every 4xx/5xx is {"error": ..., "field": ...}."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, jsonify, request
from pydantic import BaseModel, ValidationError
from werkzeug.exceptions import HTTPException, MethodNotAllowed
from werkzeug.wsgi import get_input_stream

M = TypeVar("M", bound=BaseModel)
# Builds the service's own 4xx exception from (status, message, field).
Problem = Callable[..., Exception]
READ_SIZE = 64 * 1024


def json_error(status: int, message: str, field: str | None = None) -> tuple[Response, int]:
    """A JSON error body naming the problem (and the field, when one is at fault)."""
    return jsonify({"error": message, "field": field}), status


def register_error_handlers(app: Flask, *, max_body_bytes: int, log: logging.Logger) -> None:
    """Answer routing errors, oversize bodies and unexpected exceptions with JSON."""

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException) -> tuple[Response, int]:
        status = exc.code or 500
        if status == 404:
            message = f"no such endpoint: {request.method} {request.path}"
        elif status == 405:
            message = f"method {request.method} is not allowed on {request.path}"
        elif status == 413:
            message = too_large(max_body_bytes)
        else:
            message = exc.description or exc.name
        resp, status = json_error(status, message)
        if isinstance(exc, MethodNotAllowed) and exc.valid_methods:
            resp.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
        return resp, status

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> tuple[Response, int]:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return json_error(500, f"internal server error ({type(exc).__name__})")


def too_large(limit: int) -> str:
    """The message of a 413 answer, naming the limit."""
    return f"request body exceeds the limit of {limit} bytes"


def read_body(limit: int | None, *, problem: Problem) -> bytes:
    """The request body, refused with a 413 `problem` as soon as more than `limit` bytes arrive.

    The limit holds for the bytes actually read, whether the body is sent with a
    Content-Length or chunked. Werkzeug's MAX_CONTENT_LENGTH alone does not do that: when the
    server terminates the input itself (``wsgi.input_terminated``: gunicorn always, werkzeug's
    server for chunked bodies), ``request.get_data()`` ends quietly at the limit, so an oversize
    chunked body was parsed cut short. Without a Content-Length and without a terminating
    server there is no body to read (werkzeug's safe fallback).
    """
    length = request.content_length
    if limit is not None and length is not None and length > limit:
        raise problem(413, too_large(limit))
    stream = get_input_stream(request.environ, max_content_length=None)
    body = bytearray()
    while True:
        want = READ_SIZE if limit is None else min(READ_SIZE, limit + 1 - len(body))
        chunk = stream.read(want)
        if not chunk:
            return bytes(body)
        body += chunk
        if limit is not None and len(body) > limit:
            raise problem(413, too_large(limit))


def parse_json_body(
    model: type[M],
    *,
    problem: Problem,
    max_bytes: int | None = None,
    precheck: Callable[[Any], None] | None = None,
) -> M:
    """The request's JSON body as `model`; any fault raises `problem` with a 4xx naming it.

    The body may be at most `max_bytes` long, or the app's ``MAX_CONTENT_LENGTH`` without it.
    `precheck` sees the decoded JSON before the model does, for a refusal of the service's
    own (the agent answers 403 for an image outside its namespace, which the model would
    call a 422); it must refuse nothing that the model accepts.
    """
    if not request.is_json:
        got = request.mimetype or "none"
        raise problem(415, f"Content-Type must be application/json (got {got})")
    limit = max_bytes if max_bytes is not None else request.max_content_length
    raw = read_body(limit, problem=problem)
    if not raw.strip():
        raise problem(400, "request body is empty; expected a JSON object")
    try:
        data = json.loads(raw, parse_constant=_reject_constant)
        _check_unicode(data)
    except ValueError as exc:
        raise problem(400, f"invalid JSON: {exc}") from exc
    if precheck is not None:
        precheck(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(part) for part in first["loc"])
        if loc:
            raise problem(422, f"{loc}: {first['msg']}", loc) from exc
        raise problem(422, f"request body: {first['msg']}") from exc


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check_unicode(data: Any) -> None:
    """Refuse strings that are not Unicode text: a lone surrogate (``"\\ud800"``) is valid JSON
    syntax, and the first ``encode`` of it (a store, a log, a response) raised a 500."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, str):
            try:
                value.encode("utf-8")
            except UnicodeEncodeError as exc:
                raise ValueError(
                    f"unpaired surrogate {value[exc.start]!r} in a string (not Unicode text)"
                ) from None
        elif isinstance(value, dict):
            stack.extend(value)
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
