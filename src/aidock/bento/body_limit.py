"""A request body limit for the Bento services, counted on the bytes received.

BentoML has no setting for it (nor has uvicorn): a Bento reads any body whole. The
middleware here answers ``413 {"error": "request body exceeds the limit of N bytes",
"field": null}`` as soon as the bytes received pass the limit, whether the body came with a
Content-Length or chunked, and before the app sees any of it; a declared Content-Length
above the limit is refused without reading. uvicorn discards the rest of a refused body,
so the connection stays usable.
"""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aidock.schemas.bento import MAX_TEXT_CHARS

# The longest valid request: MAX_TEXT_CHARS characters, each sent as a JSON-escaped surrogate
# pair (12 bytes, "\ud83d\ude00"), plus room for the key and whitespace.
MAX_BODY_BYTES = 12 * MAX_TEXT_CHARS + 4096


def too_large(limit: int) -> str:
    """The message of a 413 answer, naming the limit (as the Flask services word it)."""
    return f"request body exceeds the limit of {limit} bytes"


class BodyLimitMiddleware:
    """Refuse request bodies longer than ``max_bytes`` with a 413 JSON answer."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_bytes:
            await self._refuse(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # http.disconnect: the client left, nobody to answer
            body += message.get("body", b"")
            if len(body) > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        answer = JSONResponse({"error": too_large(self.max_bytes), "field": None}, 413)
        await answer(scope, receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server refuses such a request before it gets here
    return None


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on the body read already, then the server's own messages."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
