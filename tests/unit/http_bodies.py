"""Request bodies for the body-limit tests: chunked (http.client) or with a Content-Length.

Shared by the tests of every HTTP service (Flask under werkzeug and gunicorn, BentoML under
uvicorn); they talk only to servers the tests start on 127.0.0.1.
"""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterable, Iterator
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

import requests

LOCALHOST = "127.0.0.1"
PIECE = 64 * 1024


def padded(payload: dict[str, Any], size: int) -> Iterator[bytes]:
    """`payload` as JSON followed by whitespace: valid JSON of exactly `size` bytes."""
    head = json.dumps(payload).encode()
    assert len(head) <= size
    yield head
    yield from _repeat(b" ", size - len(head))


def padded_inside(payload: dict[str, Any], size: int) -> Iterator[bytes]:
    """Like :func:`padded`, the whitespace after the opening brace: cut short, invalid JSON."""
    head = json.dumps(payload).encode()
    assert len(head) <= size and head.startswith(b"{")
    yield b"{"
    yield from _repeat(b" ", size - len(head))
    yield head[1:]


def long_string(key: str, size: int) -> Iterator[bytes]:
    """``{"<key>": "xxx..."}`` of exactly `size` bytes: cut short, an unterminated string."""
    head, tail = f'{{"{key}": "'.encode(), b'"}'
    yield head
    yield from _repeat(b"x", size - len(head) - len(tail))
    yield tail


def _repeat(byte: bytes, count: int) -> Iterator[bytes]:
    while count > 0:
        yield byte * min(count, PIECE)
        count -= PIECE


def post_chunked(
    url: str, path: str, chunks: Iterable[bytes], headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """POST `chunks` with ``Transfer-Encoding: chunked``; (status, JSON answer).

    A server refusing a body stops reading it and may close while the client still sends:
    the answer is read anyway, as urllib3 and httpx do.
    """
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname or LOCALHOST, parts.port, timeout=30)
    try:
        # A refusal may come before the whole body went out.
        with suppress(BrokenPipeError, ConnectionResetError):
            conn.request(
                "POST",
                path,
                body=iter(chunks),
                headers={"Content-Type": "application/json", **(headers or {})},
                encode_chunked=True,
            )
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def post_sized(url: str, path: str, body: bytes, headers: dict[str, str] | None = None) -> Any:
    """POST `body` with a Content-Length (requests)."""
    return requests.post(
        f"{url}{path}",
        data=body,
        headers={"Content-Type": "application/json", **(headers or {})},
        timeout=30,
    )


def too_large(limit: int) -> dict[str, Any]:
    return {"error": f"request body exceeds the limit of {limit} bytes", "field": None}
