"""The WSGI side: bodies read whole (de-chunked by the server) under the cap, refusals answered
as Docker clients expect, dockerd's answer streamed back chunk by chunk."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from dockerproxy_sdk import agent_create_body, decider

from aidock.dockerproxy.decide import Forward, Refused
from aidock.dockerproxy.server import ProxyApp, gunicorn_options, read_body

CREATE = "/v1.45/containers/create?name=aidock-ai-rag-abc123abc123"


class FakeResponse:
    status = 200
    reason = "OK"

    def __init__(self, chunks: list[bytes]) -> None:
        self.chunks = list(chunks)

    def getheaders(self) -> list[tuple[str, str]]:
        return [("Content-Type", "application/json"), ("Transfer-Encoding", "chunked")]

    def read1(self, _size: int) -> bytes:
        return self.chunks.pop(0) if self.chunks else b""


class FakeConn:
    closed = False

    def close(self) -> None:
        self.closed = True


class FakeUpstream:
    path = "/nonexistent.sock"

    def __init__(self, chunks: list[bytes]) -> None:
        self.forwards: list[Forward] = []
        self.chunks = chunks
        self.conn = FakeConn()

    def open(self, forward: Forward) -> tuple[FakeConn, FakeResponse]:
        self.forwards.append(forward)
        return self.conn, FakeResponse(self.chunks)

    def container(self, ref: str) -> tuple[str, dict[str, str]] | None:
        return None


def call(app: ProxyApp, method: str, raw: str, body: bytes, *, length: bool = True) -> Any:
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": raw,
        "PATH_INFO": raw.split("?")[0],
        "wsgi.input": io.BytesIO(body),
        "HTTP_USER_AGENT": "docker-sdk-python/7.2.0",
    }
    if length:
        environ["CONTENT_LENGTH"] = str(len(body))
    started: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        started.update(status=status, headers=headers)

    chunks = list(app(environ, start_response))
    return started["status"], dict(started["headers"]), chunks


def test_refusal_is_403_with_the_rule_in_message() -> None:
    upstream = FakeUpstream([])
    app = ProxyApp(decider(), upstream)  # type: ignore[arg-type]
    status, headers, chunks = call(app, "POST", "/v1.45/volumes/create", b"{}")
    assert status == "403 Forbidden"
    assert headers["Content-Type"] == "application/json"
    assert json.loads(b"".join(chunks)) == {
        "message": "POST /volumes/create is never allowed (rule: deny-volumes)"
    }
    assert not upstream.forwards


def test_chunked_body_hiding_a_second_key_is_refused() -> None:
    # What gunicorn hands the app for a chunked request: the de-chunked bytes, no length.
    body = json.dumps(agent_create_body()).replace(
        '"HostConfig": {', '"HostConfig": {"Privileged": false, "Privileged": true, ', 1
    )
    upstream = FakeUpstream([])
    app = ProxyApp(decider(), upstream)  # type: ignore[arg-type]
    status, _, chunks = call(app, "POST", CREATE, body.encode(), length=False)
    assert status == "403 Forbidden"
    assert b"json-duplicate-key" in b"".join(chunks)
    assert not upstream.forwards


def test_allowed_request_is_forwarded_re_serialised_and_streamed_back() -> None:
    upstream = FakeUpstream([b'{"Id":', b'"x"}'])
    app = ProxyApp(decider(), upstream)  # type: ignore[arg-type]
    sent = json.dumps(agent_create_body(), indent=4).encode()
    status, headers, chunks = call(app, "POST", CREATE, sent, length=False)
    assert status == "200 OK"
    assert chunks == [b'{"Id":', b'"x"}']  # as they came, not joined
    assert "Transfer-Encoding" not in headers
    (forward,) = upstream.forwards
    assert forward.body != sent and json.loads(forward.body or b"") == json.loads(sent)
    assert upstream.conn.closed


def test_oversized_bodies_are_413_with_or_without_a_length() -> None:
    limit = 1024
    with pytest.raises(Refused) as caught:
        read_body({"wsgi.input": io.BytesIO(b"x"), "CONTENT_LENGTH": str(100 * 2**20)}, limit)
    assert (caught.value.status, caught.value.rule) == (413, "body-too-large")
    with pytest.raises(Refused) as caught:
        read_body({"wsgi.input": io.BytesIO(b"x" * (limit + 1))}, limit)
    assert caught.value.status == 413
    assert read_body({"wsgi.input": io.BytesIO(b"x" * limit)}, limit) == b"x" * limit


def test_gunicorn_serves_the_socket_with_its_mode() -> None:
    options = gunicorn_options(Path("/run/p.sock"), 0o660, 8)
    assert options["bind"] == ["unix:/run/p.sock"]
    assert options["umask"] == 0o117
    assert options["worker_class"] == "gthread"


class DeadUpstream(FakeUpstream):
    def open(self, forward: Forward) -> tuple[FakeConn, FakeResponse]:
        raise ConnectionRefusedError(111, "Connection refused")


def test_a_silent_dockerd_drops_the_connection_under_gunicorn() -> None:
    app = ProxyApp(decider(), DeadUpstream([]))  # type: ignore[arg-type]
    status, _, chunks = call(app, "GET", "/_ping", b"")
    assert status.startswith("502") and b"not reachable" in b"".join(chunks)
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": "/_ping",
        "wsgi.input": io.BytesIO(b""),
        "gunicorn.socket": object(),
    }
    with pytest.raises(ConnectionResetError):
        app(environ, lambda *_: None)
