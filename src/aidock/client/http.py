"""Generic JSON-over-HTTP client with timeouts, retries and clear errors."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

import requests

log = logging.getLogger(__name__)

RETRY_STATUSES: frozenset[int] = frozenset({502, 503, 504})
_IDEMPOTENT = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})


class ClientError(Exception):
    """Base class of the client's errors."""


class ApiError(ClientError):
    """The server answered with a 4xx/5xx status."""

    def __init__(self, status: int, message: str, field: str | None = None, url: str = "") -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.message = message
        self.field = field
        self.url = url


class AiUnavailableError(ClientError):
    """The server could not be reached (connection refused, DNS, timeout) after retries."""

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"{url} is not reachable: {reason}")
        self.url = url
        self.reason = reason


def error_message(body: Any, fallback: str) -> tuple[str, str | None]:
    """Extract (message, field) from an error body: ``{"error": str|{"message"}, "field"}``."""
    if isinstance(body, Mapping):
        err = body.get("error")
        field = body.get("field")
        field = field if isinstance(field, str) else None
        if isinstance(err, str) and err:
            return err, field
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            return str(err["message"]), field
        if isinstance(body.get("message"), str):
            return str(body["message"]), field
    return fallback, None


class ApiClient:
    """JSON API client.

    Retries connection errors and ``retry_statuses`` answers with exponential backoff
    (``backoff * 2**attempt``, capped by ``max_backoff``; a ``Retry-After`` header in
    seconds is honoured up to the cap). Read timeouts are retried only for idempotent
    requests, since the server may have acted on the request.
    """

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        retries: int = 3,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        retry_statuses: Collection[int] = RETRY_STATUSES,
        headers: Mapping[str, str] | None = None,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.retry_statuses = frozenset(retry_statuses)
        self.session = session or requests.Session()
        self.session.headers.update({"Accept": "application/json", **(headers or {})})
        self._sleep = sleep

    def url(self, path: str) -> str:
        """Absolute URL of ``path`` (relative to ``base_url``)."""
        return f"{self.base_url}/{path.lstrip('/')}"

    def get_json(self, path: str, *, params: Mapping[str, Any] | None = None) -> Any:
        """GET ``path`` and return the decoded JSON body."""
        return self.request_json("GET", path, params=params)

    def post_json(self, path: str, payload: Any, *, idempotent: bool = False) -> Any:
        """POST ``payload`` as JSON; ``idempotent=True`` also retries after read timeouts."""
        return self.request_json("POST", path, json=payload, idempotent=idempotent)

    def request_json(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        idempotent: bool | None = None,
    ) -> Any:
        """Send a request and decode its JSON answer, raising ``ClientError`` subclasses."""
        method = method.upper()
        url = self.url(path)
        retry_timeouts = method in _IDEMPOTENT if idempotent is None else idempotent
        attempt = 0
        while True:
            try:
                resp = self.session.request(
                    method, url, json=json, params=params, timeout=self.timeout
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                is_read_timeout = isinstance(exc, requests.ReadTimeout)
                reason = _describe(exc, self.timeout)
                if attempt >= self.retries or (is_read_timeout and not retry_timeouts):
                    raise AiUnavailableError(url, reason) from exc
                delay = self._delay(attempt, None)
                log.info("%s %s failed (%s); retry in %.2fs", method, url, reason, delay)
            else:
                if resp.status_code in self.retry_statuses and attempt < self.retries:
                    delay = self._delay(attempt, resp.headers.get("Retry-After"))
                    log.info("%s %s -> %s; retry in %.2fs", method, url, resp.status_code, delay)
                    resp.close()
                else:
                    return _decode(resp, url)
            self._sleep(delay)
            attempt += 1

    def _delay(self, attempt: int, retry_after: str | None) -> float:
        delay = min(self.backoff * (2**attempt), self.max_backoff)
        if retry_after:
            with contextlib.suppress(ValueError):
                delay = min(max(delay, float(retry_after)), self.max_backoff)
        return delay


def _describe(exc: requests.RequestException, timeout: float) -> str:
    if isinstance(exc, requests.Timeout):
        return f"no answer within {timeout:g}s"
    text = str(exc)
    for hint in ("Connection refused", "Name or service not known", "No route to host"):
        if hint in text:
            return hint.lower()
    return text or type(exc).__name__


def _decode(resp: requests.Response, url: str) -> Any:
    try:
        body: Any = resp.json()
    except ValueError:
        body = None
    if resp.status_code >= 400:
        snippet = resp.text.strip()[:200] if body is None else ""
        fallback = snippet or resp.reason or f"HTTP {resp.status_code}"
        message, field = error_message(body, fallback)
        raise ApiError(resp.status_code, message, field, url)
    if body is None and resp.content:
        raise ApiError(resp.status_code, "the server's answer is not JSON", None, url)
    return body
