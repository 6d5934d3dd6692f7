"""ApiClient: retries with backoff and error mapping, against http.server on 127.0.0.1.

The retries are urllib3's ``Retry``; the tests also pin where the client's rules differ
from urllib3's defaults (first wait, Retry-After cap, 429, read timeouts, dropped answers).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest

from aidock.client.http import AiUnavailableError, ApiClient, ApiError


@dataclass
class Script:
    """Answers served in order (the last one repeats); requests seen."""

    url: str = ""
    answers: list[tuple[int, Any, dict[str, str]]] = field(default_factory=list)
    seen: list[tuple[str, str, Any]] = field(default_factory=list)
    delay: float = 0.0
    drop: int = 0  # the first `drop` requests get the connection closed, no answer

    def add(self, status: int, body: Any = None, **headers: str) -> Script:
        self.answers.append((status, body, headers))
        return self


@pytest.fixture
def script(http_server: Any) -> Iterator[Script]:
    state = Script()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *_: Any) -> None:
            pass

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length)) if length else None
            state.seen.append((self.command, self.path, body))
            if len(state.seen) <= state.drop:
                self.close_connection = True
                return
            if state.delay:
                time.sleep(state.delay)
            index = min(len(state.seen), len(state.answers)) - 1
            status, payload, headers = state.answers[index]
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", headers.pop("content_type", "application/json"))
            for name, value in headers.items():
                self.send_header(name.replace("_", "-"), value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = _answer
        do_POST = _answer

    with http_server(Handler) as url:
        state.url = url
        yield state


def make_client(url: str, sleeps: list[float], **kwargs: Any) -> ApiClient:
    kwargs.setdefault("timeout", 5.0)
    return ApiClient(url, sleep=sleeps.append, **kwargs)


def test_get_and_post_json(script: Script) -> None:
    script.add(200, {"ok": True})
    sleeps: list[float] = []
    client = make_client(script.url + "/", sleeps)
    assert client.get_json("/items", params={"q": "a b"}) == {"ok": True}
    assert client.post_json("items", {"x": 1}) == {"ok": True}
    assert script.seen == [("GET", "/items?q=a+b", None), ("POST", "/items", {"x": 1})]
    assert sleeps == []


def test_retries_503_with_exponential_backoff(script: Script) -> None:
    script.add(503, {"error": "starting"}).add(502, {}).add(200, {"done": 1})
    sleeps: list[float] = []
    client = make_client(script.url, sleeps, retries=3, backoff=0.25)
    assert client.post_json("/work", {"n": 1}) == {"done": 1}
    assert len(script.seen) == 3
    assert sleeps == [0.25, 0.5]


def test_backoff_is_capped_and_retry_after_honoured(script: Script) -> None:
    script.add(503, {"error": "busy"}, Retry_After="3").add(504, {}).add(504, {})
    sleeps: list[float] = []
    client = make_client(script.url, sleeps, retries=4, backoff=1.0, max_backoff=2.5)
    with pytest.raises(ApiError) as info:
        client.get_json("/")
    assert info.value.status == 504
    assert sleeps == [2.5, 2.0, 2.5, 2.5]
    assert len(script.seen) == 5


def test_gives_up_with_server_message(script: Script) -> None:
    script.add(503, {"error": "the service is starting; retry shortly", "field": None})
    sleeps: list[float] = []
    client = make_client(script.url, sleeps, retries=2, backoff=0.1)
    with pytest.raises(ApiError) as info:
        client.get_json("/readyz")
    assert info.value.status == 503
    assert info.value.message == "the service is starting; retry shortly"
    assert sleeps == [0.1, 0.2]


@pytest.mark.parametrize(
    ("status", "body", "message", "field"),
    [
        (
            404,
            {"error": "collection 'x' does not exist", "field": "collection"},
            "collection 'x' does not exist",
            "collection",
        ),
        (
            422,
            {"error": "question: Field required", "field": "question"},
            "question: Field required",
            "question",
        ),
        (401, {"error": {"message": "Incorrect API key"}}, "Incorrect API key", None),
        (500, b"<html>Internal Server Error</html>", "<html>Internal Server Error</html>", None),
        (400, b"", "Bad Request", None),
    ],
)
def test_4xx_5xx_map_to_api_error_without_retry(
    script: Script, status: int, body: Any, message: str, field: str | None
) -> None:
    script.add(status, body)
    sleeps: list[float] = []
    with pytest.raises(ApiError) as info:
        make_client(script.url, sleeps).post_json("/q", {})
    assert (info.value.status, info.value.message, info.value.field) == (status, message, field)
    assert info.value.url == script.url + "/q"
    assert len(script.seen) == 1
    assert sleeps == []


def test_non_json_success_is_an_error(script: Script) -> None:
    script.add(200, b"hello", content_type="text/plain")
    with pytest.raises(ApiError, match="not JSON"):
        make_client(script.url, []).get_json("/")


def test_connection_refused_after_retries(closed_port: int) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    sleeps: list[float] = []
    client = make_client(url, sleeps, retries=2, backoff=0.5)
    with pytest.raises(AiUnavailableError) as info:
        client.get_json("/healthz")
    assert info.value.url == f"{url}/healthz"
    assert f"{url}/healthz is not reachable" in str(info.value)
    assert "refused" in info.value.reason
    assert sleeps == [0.5, 1.0]


def test_read_timeout_not_retried_for_plain_post(script: Script) -> None:
    script.add(200, {"late": True})
    script.delay = 0.5
    sleeps: list[float] = []
    client = make_client(script.url, sleeps, timeout=0.1, retries=3)
    with pytest.raises(AiUnavailableError, match=r"no answer within 0\.1s"):
        client.post_json("/slow", {})
    assert len(script.seen) == 1
    assert sleeps == []


def test_read_timeout_retried_when_idempotent(script: Script) -> None:
    script.add(200, {"late": True})
    script.delay = 0.3
    sleeps: list[float] = []
    client = make_client(script.url, sleeps, timeout=0.1, retries=1)
    with pytest.raises(AiUnavailableError, match=r"no answer within 0\.1s"):
        client.post_json("/slow", {}, idempotent=True)
    time.sleep(0.3)  # let the server record the second request
    assert len(script.seen) == 2
    assert sleeps == [0.5]


def test_retry_after_only_for_retried_statuses_and_garbage_ignored(script: Script) -> None:
    script.add(429, {"error": "max_instances (2) reached"}, Retry_After="1")
    sleeps: list[float] = []
    with pytest.raises(ApiError) as info:
        make_client(script.url, sleeps).get_json("/")
    assert (info.value.status, len(script.seen), sleeps) == (429, 1, [])
    script.seen.clear()
    script.answers[:] = [(503, {}, {"Retry-After": "soon"}), (200, {"ok": 1}, {})]
    assert make_client(script.url, sleeps, backoff=0.25).get_json("/") == {"ok": 1}
    assert sleeps == [0.25]


def test_a_dropped_connection_is_retried_even_for_a_plain_post(script: Script) -> None:
    script.add(200, {"ok": True})
    script.drop = 1
    sleeps: list[float] = []
    assert make_client(script.url, sleeps, backoff=0.1).post_json("/start", {}) == {"ok": True}
    assert len(script.seen) == 2 and sleeps == [0.1]


def test_invalid_settings() -> None:
    with pytest.raises(ValueError, match="retries"):
        ApiClient("http://127.0.0.1:1", retries=-1)
    with pytest.raises(ValueError, match="timeout"):
        ApiClient("http://127.0.0.1:1", timeout=0)
