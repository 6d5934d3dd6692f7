"""JSON errors shared by aidock's Flask services: every 4xx/5xx is {"error": ..., "field": ...}."""

from __future__ import annotations

import logging

from flask import Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed


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
            message = f"request body exceeds the limit of {max_body_bytes} bytes"
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
