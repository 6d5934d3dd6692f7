"""Container health check: ``python -m aidock.healthcheck URL [--unix-socket PATH] [--timeout 3]``.

Exits 0 when ``GET URL`` answers 2xx, else 1. One HTTP/1.0 request on a plain socket (standard
library only: no curl, no shell). Docker runs this in every AI container, and Swarm runs it every
half second while a replica starts, three replicas at once on the same cores: with
urllib.request it took about 60 ms of CPU, two thirds of it importing http.client, email and
ssl, which a GET of the container's own plain-HTTP port does not need. Proxies from the
environment are never used: the target is the container itself.

With ``--unix-socket`` the request goes to that socket instead of the URL's host and port (the
URL still gives the path and the Host header): the Docker API policy proxy's health check, a
``GET /_ping`` through the proxy to dockerd. That check was ``aidock dockerproxy ping``, whose
imports (the CLI, pydantic-settings, gunicorn) cost about 0.4 s of CPU every 5 s: 8 % of a core
for an idle agent (cgroup cpuacct, 4.9 CPU-s a minute), more than the proxy's own serving.
"""

from __future__ import annotations

import argparse
import socket
import sys
from collections.abc import Sequence
from urllib.parse import urlsplit

USER_AGENT = "aidock-healthcheck"
MAX_HEAD = 1024  # bytes read for the status line


def _connect(host: str, port: int, unix_socket: str | None, timeout: float) -> socket.socket:
    """A connected socket: to ``unix_socket`` when given, else to ``host:port`` over TCP."""
    if unix_socket is None:
        return socket.create_connection((host, port), timeout=timeout)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        sock.connect(unix_socket)
    except OSError:
        sock.close()
        raise
    return sock


def _status_line(url: str, timeout: float, unix_socket: str | None = None) -> str:
    """The first line of the answer to ``GET url`` (raises OSError or ValueError)."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        raise ValueError("not an http:// URL")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = (
        f"GET {target} HTTP/1.0\r\nHost: {parts.netloc}\r\nUser-Agent: {USER_AGENT}\r\n\r\n"
    ).encode("latin-1")
    head = b""
    with _connect(parts.hostname, parts.port or 80, unix_socket, timeout) as sock:
        sock.sendall(request)
        while b"\r\n" not in head and len(head) < MAX_HEAD:
            chunk = sock.recv(MAX_HEAD)
            if not chunk:
                break
            head += chunk
    return head.split(b"\r\n", 1)[0].decode("latin-1")


def check(url: str, timeout: float = 3.0, unix_socket: str | None = None) -> tuple[bool, str]:
    """GET ``url`` (through ``unix_socket`` when given); return (healthy, description)."""
    where = url if unix_socket is None else f"{url} on {unix_socket}"
    try:
        line = _status_line(url, timeout, unix_socket)
    except (OSError, ValueError) as exc:
        return False, f"{where} is not reachable: {exc}"
    fields = line.split()
    if len(fields) < 2 or not fields[0].startswith("HTTP/") or not fields[1].isdigit():
        return False, f"{where} answered no HTTP status line: {line[:60]!r}"
    status = int(fields[1])
    return 200 <= status < 300, f"{where} answered {status}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the check, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m aidock.healthcheck", description="Exit 0 if GET URL answers 2xx."
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument(
        "--unix-socket", metavar="PATH", default=None, help="send the request to this socket"
    )
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default: 3)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # Docker reserves exit code 2: report usage errors as 1
        return 0 if exc.code == 0 else 1
    healthy, message = check(args.url, args.timeout, args.unix_socket)
    if not healthy:
        print(message, file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
