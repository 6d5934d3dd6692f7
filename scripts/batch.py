#!/usr/bin/env python3
"""Run the agent stack's worker and exit with the worker's own status (``make batch``).

    scripts/batch.py --project /opt/aidock/stacks/agent \\
        --summary /opt/aidock/stacks/agent/output/extraction.jsonl.summary.json \\
        -- run --ai extraction --version 0.1.0 --input /input --output /output/extraction.jsonl

runs ``docker compose -f <project>/compose.yaml run --rm -T --name <unique> worker <args>``.
Its exit status is the worker's, unless ``docker compose run`` loses the container: when
dockerd restarts mid-batch it exits 125 ("error waiting for container: unexpected EOF")
while the worker goes on (live-restore). Then this script waits for dockerd and for the
worker (by its name), reads the summary the worker wrote beside its output (only one
written since this script started counts) and exits with the exit code recorded there,
printing the summary line that compose could not show. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DOCKER = os.environ.get("DOCKER", "docker")
DOCKERD_WAIT = 180.0  # seconds dockerd may take to answer again


def utc_now() -> str:
    """Now as the worker writes its timestamps: ISO 8601, UTC, seconds, Z."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def docker(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, check=False)


def wait_for_dockerd(timeout: float = DOCKERD_WAIT) -> bool:
    """True once ``docker version`` answers (within ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while docker("version", "--format", "{{.Server.Version}}").returncode != 0:
        if time.monotonic() >= deadline:
            return False
        time.sleep(1)
    return True


def wait_for_container(name: str) -> int | None:
    """The exit status of container ``name`` once it stops; None when it is gone."""
    while True:
        if not wait_for_dockerd():
            return None
        if docker("container", "inspect", name).returncode != 0:
            return None  # gone: it ended and --rm removed it
        done = docker("wait", name)
        if done.returncode == 0 and done.stdout.strip().lstrip("-").isdigit():
            return int(done.stdout.strip())
        # dockerd went away again while waiting: ask again


def fresh_summary(path: Path, since: str) -> dict[str, Any] | None:
    """The worker's summary in ``path`` if it was written at ``since`` or later."""
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(summary, dict) or not isinstance(summary.get("exit_code"), int):
        return None
    finished = summary.get("finished_at")
    return summary if isinstance(finished, str) and finished >= since else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--project", required=True, type=Path, help="the agent stack's directory")
    parser.add_argument("--summary", required=True, type=Path, help="host path of the summary")
    parser.add_argument("worker_args", nargs=argparse.REMAINDER, help="-- then the worker's")
    args = parser.parse_args(argv)
    worker_args = args.worker_args[1:] if args.worker_args[:1] == ["--"] else args.worker_args
    since = utc_now()
    name = f"aidock-agent-worker-batch-{os.getpid()}-{int(time.time())}"
    compose = [DOCKER, "compose", "-f", str(args.project / "compose.yaml"), "run", "--rm", "-T"]
    status = subprocess.run([*compose, "--name", name, "worker", *worker_args], check=False)
    code = status.returncode
    if code == 0:
        return 0
    ended = wait_for_container(name)  # still there: compose lost it, the worker goes on
    summary = fresh_summary(args.summary, since)
    if summary is None:
        return ended if ended is not None else code
    worker_code = int(summary["exit_code"])
    if worker_code != code:
        print(
            f"batch: docker compose run exited {code}, the worker {worker_code} "
            f"(its summary, {args.summary}):",
            file=sys.stderr,
        )
        print(summary.get("summary", ""), flush=True)
    return worker_code


if __name__ == "__main__":
    sys.exit(main())
