"""The proxy's HTTP side: a WSGI app served by gunicorn on a unix socket, forwarding to dockerd.

gunicorn (``gthread`` workers, in the agent image's lock) parses HTTP, de-chunks request
bodies and refuses ambiguous framing (Content-Length with Transfer-Encoding); the raw
request target comes from its ``RAW_URI`` (``PATH_INFO`` is already percent-decoded, which
is what must not be trusted). Each request is read whole up to the policy's size cap, decided
by ``Decider`` and, when allowed, sent to dockerd's unix socket with ``http.client`` on a
connection of its own. When dockerd does not answer (restarting), the client's connection is
closed without an answer, as dockerd's socket would do. dockerd's answer is streamed back
chunk by chunk as it arrives (pull progress, logs, wait), never buffered whole. Refusals are
logged at WARNING with method, target and rule, and answered with the rule's status and
``{"message": ...}``.
"""

from __future__ import annotations

import errno
import http.client
import json
import logging
import os
import socket
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from gunicorn.app.base import BaseApplication

from aidock.dockerproxy.decide import Decider, Forward, Refused, Request
from aidock.dockerproxy.policy import Policy

log = logging.getLogger(__name__)
CHUNK = 65536
# Hop-by-hop headers (RFC 9110 7.6.1) are the server's business, never forwarded.
HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
}
StartResponse = Callable[..., Any]


class UnixConnection(http.client.HTTPConnection):
    """``http.client`` over a unix socket (dockerd's)."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("docker", timeout=timeout)
        self.socket_path = str(path)

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


class Upstream:
    """dockerd behind its unix socket."""

    def __init__(self, path: Path, timeout: float) -> None:
        self.path = path
        self.timeout = timeout

    def open(self, forward: Forward) -> tuple[UnixConnection, http.client.HTTPResponse]:
        """Send ``forward``; the caller reads and closes the response and connection."""
        conn = UnixConnection(self.path, self.timeout)
        try:
            headers = dict(forward.headers)
            if forward.body is not None:
                headers["Content-Length"] = str(len(forward.body))
            conn.request(forward.method, forward.target, body=forward.body, headers=headers)
            return conn, conn.getresponse()
        except BaseException:
            conn.close()
            raise

    def service(self, ref: str) -> tuple[str, dict[str, str]] | None:
        """Full id and labels of Swarm service ``ref`` (None: no such service)."""
        attrs = self._inspect(f"/services/{quote(ref, safe='')}", ref)
        if attrs is None:
            return None
        return str(attrs["ID"]), dict((attrs.get("Spec") or {}).get("Labels") or {})

    def container(self, ref: str) -> tuple[str, dict[str, str]] | None:
        """Full id and labels of container ``ref`` (None: dockerd has no such container)."""
        attrs = self._inspect(f"/containers/{quote(ref, safe='')}/json", ref)
        if attrs is None:
            return None
        return str(attrs["Id"]), dict((attrs.get("Config") or {}).get("Labels") or {})

    def _inspect(self, target: str, ref: str) -> dict[str, Any] | None:
        conn, resp = self.open(Forward("owner-lookup", "GET", target, {}, None))
        try:
            data = resp.read()
        finally:
            conn.close()
        if resp.status == 404:
            return None
        if resp.status != 200:
            raise Refused("upstream-error", f"dockerd answered {resp.status} on {ref}", 502)
        return dict(json.loads(data))


def _answer(start_response: StartResponse, status: int, body: dict[str, str]) -> list[bytes]:
    data = json.dumps(body).encode()
    reason = http.client.responses.get(status, "Error")
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data)))],
    )
    return [data]


def read_body(environ: dict[str, Any], limit: int) -> bytes:
    """The whole request body (de-chunked by the server); ``Refused`` 413 past ``limit``."""
    stream = environ["wsgi.input"]
    length = environ.get("CONTENT_LENGTH") or ""
    if length:
        if not length.isdigit():
            raise Refused("body-invalid", "Content-Length is not a number", 400)
        if int(length) > limit:
            raise Refused("body-too-large", f"the body exceeds {limit} bytes", 413)
    parts: list[bytes] = []
    size = 0
    while True:
        chunk = stream.read(min(CHUNK, limit + 1 - size))
        if not chunk:
            break
        parts.append(chunk)
        size += len(chunk)
        if size > limit:
            raise Refused("body-too-large", f"the body exceeds {limit} bytes", 413)
    return b"".join(parts)


def _stream(conn: UnixConnection, resp: http.client.HTTPResponse) -> Iterator[bytes]:
    try:
        while chunk := resp.read1(CHUNK):
            yield chunk
    except (OSError, http.client.HTTPException) as exc:
        log.warning("dockerd's answer broke off: %s", exc)
    finally:
        conn.close()


class ProxyApp:
    """The WSGI application."""

    def __init__(self, decider: Decider, upstream: Upstream) -> None:
        self.decider = decider
        self.upstream = upstream

    @property
    def policy(self) -> Policy:
        """The policy being enforced."""
        return self.decider.policy

    def _lookup(self, ref: str, kind: str = "container") -> tuple[str, dict[str, str]] | None:
        if kind == "container":
            return self.upstream.container(ref)
        return self.upstream.service(ref)

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", ""))
        raw = str(environ.get("RAW_URI") or environ.get("REQUEST_URI") or "")
        try:
            if not raw:
                raise Refused("path-not-canonical", "the server gave no raw request target", 500)
            body = read_body(environ, self.policy.max_body_bytes)
            headers = {
                key[5:].replace("_", "-").title(): str(value)
                for key, value in environ.items()
                if key.startswith("HTTP_")
            }
            request = Request(method, raw, headers, body)
            forward = self.decider.decide(request, self._lookup)
        except Refused as refused:
            log.warning(
                "refused %s %s: %s (rule: %s)", method, raw[:300], refused.message, refused.rule
            )
            return _answer(start_response, refused.status, refused.answer)
        try:
            conn, resp = self.upstream.open(forward)
        except OSError as exc:
            log.error("dockerd is not reachable at %s: %s", self.upstream.path, exc)
            if "gunicorn.socket" in environ:
                # Close the client's connection without an answer, as dockerd's own socket
                # would while dockerd restarts: the agent's DockerOps takes a connection error
                # for "Docker unavailable" (503, reconnect), an HTTP 502 for a failed call.
                raise ConnectionResetError(errno.ECONNRESET, "dockerd is not reachable") from exc
            return _answer(start_response, 502, {"message": f"dockerd is not reachable: {exc}"})
        log.info("%s %s -> %s (%s)", forward.method, forward.target, resp.status, forward.route)
        out = [(k, v) for k, v in resp.getheaders() if k.lower() not in HOP_BY_HOP]
        start_response(f"{resp.status} {resp.reason}", out)
        if method == "HEAD":
            conn.close()
            return []
        return _stream(conn, resp)


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """gunicorn with options from code (no config file, no command line of its own)."""

    def __init__(self, app: ProxyApp, options: dict[str, Any]) -> None:
        self.app = app
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> ProxyApp:
        return self.app


def gunicorn_options(listen: Path, socket_mode: int, threads: int) -> dict[str, Any]:
    """One worker process with ``threads`` threads on the unix socket ``listen``."""
    return {
        "bind": [f"unix:{listen}"],
        "umask": 0o777 & ~socket_mode,
        "workers": 1,
        "worker_class": "gthread",
        "threads": threads,
        "keepalive": 30,
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": None,
        "errorlog": "-",
        "proc_name": "aidock-dockerproxy",
        "control_socket_disable": True,
        "worker_tmp_dir": os.environ.get("TMPDIR", "/tmp"),
    }
