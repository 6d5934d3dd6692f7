"""The Bento services' body limit (BodyLimitMiddleware) under uvicorn on 127.0.0.1.

uvicorn serves the middleware in this process, with both of its HTTP parsers (BentoML's
worker runs uvicorn's default, httptools). The real Bentos are checked in
test_bento_service.py.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import requests
from http_bodies import LOCALHOST, long_string, padded, post_chunked, post_sized, too_large
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

uvicorn = pytest.importorskip("uvicorn")

from aidock.bento.body_limit import MAX_BODY_BYTES, BodyLimitMiddleware  # noqa: E402
from aidock.schemas.bento import MAX_TEXT_CHARS  # noqa: E402

LIMIT = 1000
PAYLOAD = {"text": "Invoice INV-1 of 12 March."}


class Echo:
    """An app answering how many body bytes it got; counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def app(self) -> Starlette:
        async def echo(request: Request) -> JSONResponse:
            self.calls += 1
            body = await request.body()
            return JSONResponse({"bytes": len(body), "json": await request.json()})

        async def health(_: Request) -> JSONResponse:
            return JSONResponse({"status": "ok"})

        return Starlette(routes=[Route("/echo", echo, methods=["POST"]), Route("/healthz", health)])


@contextmanager
def serve(app: object, http: str) -> Iterator[str]:
    """Run an ASGI app under uvicorn on 127.0.0.1 in a thread; yield its base URL."""
    sock = socket.create_server((LOCALHOST, 0))
    config = uvicorn.Config(app, http=http, lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    try:
        yield f"http://{LOCALHOST}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


@pytest.fixture(params=["httptools", "h11"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[str, Echo]]:
    pytest.importorskip(request.param)
    echo = Echo()
    with serve(BodyLimitMiddleware(echo.app(), max_bytes=LIMIT), request.param) as url:
        yield url, echo


def test_chunked_bodies_over_the_limit_are_413_before_the_app(
    served: tuple[str, Echo],
) -> None:
    url, echo = served
    for chunks in (
        long_string("text", 10_000_000),
        padded(PAYLOAD, 3_000_000),  # valid JSON padded with whitespace
        padded(PAYLOAD, LIMIT + 1),
    ):
        assert post_chunked(url, "/echo", chunks) == (413, too_large(LIMIT))
    assert echo.calls == 0
    assert requests.get(f"{url}/healthz", timeout=10).json() == {"status": "ok"}


def test_chunked_bodies_within_the_limit_reach_the_app(served: tuple[str, Echo]) -> None:
    url, echo = served
    assert post_chunked(url, "/echo", padded(PAYLOAD, LIMIT)) == (
        200,
        {"bytes": LIMIT, "json": PAYLOAD},
    )
    status, body = post_chunked(url, "/echo", long_string("text", 300))
    assert (status, body["bytes"]) == (200, 300)
    assert echo.calls == 2


def test_a_content_length_over_the_limit_is_413(served: tuple[str, Echo]) -> None:
    url, echo = served
    resp = post_sized(url, "/echo", b"".join(padded(PAYLOAD, LIMIT + 1)))
    assert (resp.status_code, resp.json()) == (413, too_large(LIMIT))
    resp = post_sized(url, "/echo", b"".join(padded(PAYLOAD, LIMIT)))
    assert (resp.status_code, resp.json()) == (200, {"bytes": LIMIT, "json": PAYLOAD})
    assert echo.calls == 1


def test_one_keep_alive_connection_serves_on_after_a_413(served: tuple[str, Echo]) -> None:
    url, _ = served
    with requests.Session() as session:
        big = session.post(f"{url}/echo", data=b" " * (LIMIT + 1), timeout=10)
        assert big.status_code == 413
        small = session.post(f"{url}/echo", json=PAYLOAD, timeout=10)
        assert small.status_code == 200


def test_the_limit_admits_the_longest_valid_text() -> None:
    longest = json.dumps({"text": "\U0001f600" * MAX_TEXT_CHARS})  # escaped: 12 bytes a char
    assert len(longest.encode()) <= MAX_BODY_BYTES
