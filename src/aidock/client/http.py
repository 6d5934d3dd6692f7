"""Generic JSON-over-HTTP client with timeouts, retries and clear errors.

Retries are urllib3's ``Retry`` on the session's ``HTTPAdapter`` (connection, read and
status retries counted together in ``total``); ``_Retry`` keeps this client's rules where
urllib3's defaults differ (the first retry waits too, ``Retry-After`` is capped, read
timeouts only for idempotent requests, an injectable sleep for tests).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Mapping
from types import TracebackType
from typing import Any, ClassVar, Self

import requests
from requests.adapters import HTTPAdapter
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    InvalidHeader,
    MaxRetryError,
    NewConnectionError,
    ReadTimeoutError,
)
from urllib3.exceptions import TimeoutError as Urllib3Timeout
from urllib3.response import BaseHTTPResponse
from urllib3.util.retry import Retry

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


class _Retry(Retry):
    """urllib3's ``Retry`` with this client's waits and its rule for read timeouts.

    Waits ``backoff_factor * 2**n`` before retry n (urllib3 waits 0 s before the first),
    capped by ``backoff_max``; a ``Retry-After`` lengthens a wait, up to the same cap, and
    only ``status_forcelist`` answers are retried (urllib3 also retries a 413/429 that
    carries one). A read timeout is retried only with ``retry_timeouts``: the server may
    have acted on a request it did not answer in time.
    """

    RETRY_AFTER_STATUS_CODES: ClassVar[frozenset[int]] = frozenset()

    def __init__(
        self,
        *args: Any,
        retry_timeouts: bool = True,
        sleep: Callable[[float], None] = time.sleep,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.retry_timeouts = retry_timeouts
        self.pause = sleep

    def new(self, **kw: Any) -> Self:
        kw.setdefault("retry_timeouts", self.retry_timeouts)
        return super().new(sleep=self.pause, **kw)

    def get_backoff_time(self) -> float:
        return min(self.backoff_factor * 2 ** max(len(self.history) - 1, 0), self.backoff_max)

    def parse_retry_after(self, retry_after: str) -> float:
        try:
            seconds = super().parse_retry_after(retry_after)
        except InvalidHeader:
            seconds = 0.0
        return min(max(seconds, self.get_backoff_time()), self.backoff_max)

    def sleep(self, response: BaseHTTPResponse | None = None) -> None:
        retry_after = self.get_retry_after(response) if response is not None else None
        delay = self.get_backoff_time() if retry_after is None else retry_after
        if self.history:
            last = self.history[-1]
            why = last.status or last.error
            log.info("%s %s -> %s; retry in %.2fs", last.method, last.url, why, delay)
        self.pause(delay)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        if isinstance(error, ReadTimeoutError) and not self.retry_timeouts:
            raise error
        return super().increment(method, url, response, error, _pool, _stacktrace)


class ApiClient:
    """JSON API client.

    Retries connection errors and ``retry_statuses`` answers with exponential backoff
    (``backoff * 2**attempt``, capped by ``max_backoff``; a ``Retry-After`` header is
    honoured up to the cap). Read timeouts are retried only for idempotent requests, since
    the server may have acted on the request: the others go through a second session
    whose ``Retry`` does not retry a read timeout.
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
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if retries < 0:
            raise ValueError("retries must be >= 0")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.retry = _Retry(
            total=retries,
            allowed_methods=None,  # every method: which ones may repeat is retry_timeouts
            status_forcelist=frozenset(retry_statuses),
            backoff_factor=backoff,
            backoff_max=max_backoff,
            raise_on_status=False,  # the last answer is returned: ApiError carries its message
            sleep=sleep,
        )
        headers = {"Accept": "application/json", **(headers or {})}
        self.session = _session(self.retry, headers)
        self._once = _session(self.retry.new(retry_timeouts=False), headers)

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
        session = self.session if retry_timeouts else self._once
        try:
            resp = session.request(method, url, json=json, params=params, timeout=self.timeout)
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise AiUnavailableError(url, _describe(exc, self.timeout)) from exc
        return _decode(resp, url)


def _session(retry: Retry, headers: Mapping[str, str]) -> requests.Session:
    session = requests.Session()
    session.headers.update(headers)
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def _describe(exc: requests.RequestException, timeout: float) -> str:
    cause: object = exc.args[0] if exc.args else None
    cause = cause.reason if isinstance(cause, MaxRetryError) else cause  # retries ran out
    timed_out = isinstance(cause, Urllib3Timeout) and not isinstance(cause, NewConnectionError)
    if isinstance(exc, requests.Timeout) or timed_out:
        return f"no answer within {timeout:g}s"
    text = str(cause or exc)
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
