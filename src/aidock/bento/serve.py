"""Serve a Bento in one process: ``python -m aidock.bento.serve /bento --port 3000``.

``bentoml serve`` starts a supervisor (circus) that loads the service to read its settings,
then spawns one worker process that imports and loads everything again. In a container the
supervisor adds nothing Docker does not already do (restart policy, health check), but it
doubles the start: the hardened images run BentoML's own worker entry point
(``_bentoml_impl.worker.service``, the command the supervisor would spawn) directly, on a
socket bound here. Requests, routes, ``/healthz``, ``/readyz`` and ``/metrics`` are BentoML's.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

from _bentoml_impl.worker.service import main as worker_main

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 3000
DEFAULT_BACKLOG = 2048
PROMETHEUS_ENV = "PROMETHEUS_MULTIPROC_DIR"


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m aidock.bento.serve",
        description="Serve an unpacked Bento with BentoML's HTTP worker, without a supervisor.",
    )
    parser.add_argument("bento", type=Path, help="directory of the unpacked Bento (bento.yaml)")
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    parser.add_argument("--backlog", type=int, default=DEFAULT_BACKLOG, help="listen backlog")
    return parser.parse_args(argv)


def worker_args(bento: Path, fd: int, backlog: int) -> list[str]:
    """Arguments of BentoML's worker command, as its supervisor passes them for worker 1."""
    return [str(bento), "--fd", str(fd), "--backlog", str(backlog), "--worker-id", "1"]


def prepare_metrics_dir(environ: os._Environ[str] | dict[str, str]) -> Path | None:
    """Create the Prometheus multiprocess directory the supervisor would have created."""
    directory = environ.get(PROMETHEUS_ENV, "").strip()
    if not directory:
        return None
    path = Path(directory)
    path.mkdir(parents=True, exist_ok=True)
    for stale in path.glob("*.db"):  # a previous run's counters (the supervisor cleans too)
        stale.unlink()
    return path


def bind(host: str, port: int, backlog: int) -> socket.socket:
    """A listening TCP socket the worker inherits."""
    sock = socket.create_server((host, port), backlog=backlog, reuse_port=False)
    sock.set_inheritable(True)
    return sock


def main(argv: Sequence[str] | None = None) -> int:
    """Bind, then hand the socket to BentoML's worker (which runs until SIGTERM/SIGINT)."""
    args = parse_args(argv)
    if not (args.bento / "bento.yaml").is_file():
        print(f"error: {args.bento} is not an unpacked Bento (no bento.yaml)", file=sys.stderr)
        return 2
    try:
        sock = bind(args.host, args.port, args.backlog)
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 2
    prepare_metrics_dir(os.environ)
    worker_main.main(
        args=worker_args(args.bento, sock.fileno(), args.backlog),
        prog_name="bentoml-worker",
        standalone_mode=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
