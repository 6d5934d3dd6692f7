"""Shared helpers of the benchmark suites: paths, Docker, host facts, statistics, result files."""

from __future__ import annotations

import contextlib
import json
import math
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import docker
from docker.errors import DockerException

ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = ROOT / "bench"
RESULTS_DIR = BENCH_DIR / "results"
STAGING_DIR = ROOT / ".cache" / "bench"
WHEELHOUSE_DIR = ROOT / ".cache" / "wheelhouse"
DOCS_DIR = ROOT / "data" / "docs"

RAG_IMAGE = "localhost:5000/aidock/rag:0.1.0"
RAG_URL = "http://127.0.0.1:5001"
BENCH_LABEL = "ai.aidock.bench"
INPUTS_LABEL = "ai.aidock.bench.inputs"
SCHEMA_VERSION = 1
NOOP_GOAL_S = 45.0  # issue 14's goal for a no-op `make deploy` (feedback suite)
_TASK_LINE = re.compile(r"^(?P<task>\S.*?) -{2,} (?P<seconds>\d+\.\d+)s$")


class BenchError(RuntimeError):
    """A benchmark cannot run (missing stack, image, wheelhouse...); the message says why."""


@dataclass
class Context:
    """Options shared by every part of a run."""

    repeat: int = 5
    requests: int = 200
    warmup: int = 10
    rag_image: str = RAG_IMAGE
    rag_url: str = RAG_URL
    rebuild: bool = False
    _docker: docker.DockerClient | None = field(default=None, repr=False)

    @property
    def docker(self) -> docker.DockerClient:
        """A Docker client of the local engine (created on first use)."""
        if self._docker is None:
            try:
                self._docker = docker.from_env(timeout=300)
                self._docker.ping()
            except DockerException as exc:
                raise BenchError(f"cannot reach the Docker engine: {exc}") from exc
        return self._docker


def log(message: str) -> None:
    """Progress on stderr (results go to files)."""
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def now_iso() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


# ----------------------------------------------------------------------------- statistics


def percentile(samples: Sequence[float], pct: float) -> float:
    """The ``pct`` percentile with linear interpolation between ranks (numpy's default)."""
    if not samples:
        return math.nan
    ordered = sorted(samples)
    rank = (len(ordered) - 1) * pct / 100.0
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(samples: Sequence[float]) -> dict[str, float | int]:
    """n, median, min, max, mean, p95 and standard deviation of ``samples``."""
    if not samples:
        return {"n": 0}
    return {
        "n": len(samples),
        "median": statistics.median(samples),
        "min": min(samples),
        "max": max(samples),
        "mean": statistics.fmean(samples),
        "p95": percentile(samples, 95),
        "stdev": statistics.stdev(samples) if len(samples) > 1 else 0.0,
    }


def ratio(numerator: float | None, denominator: float | None) -> float | None:
    """numerator / denominator, or None when either is missing or the denominator is 0."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# ----------------------------------------------------------------------------- formatting


def fmt_bytes(size: float | None) -> str:
    """Bytes as MB (10^6, as ``docker images`` prints them)."""
    return "n/a" if size is None else f"{size / 1e6:,.1f} MB"


def fmt_seconds(value: float | None) -> str:
    """Seconds as s or ms, three significant digits."""
    if value is None or math.isnan(value):
        return "n/a"
    return f"{value:.2f} s" if value >= 1 else f"{value * 1000:.0f} ms"


def fmt_ms(value: float | None) -> str:
    """Seconds as milliseconds with one decimal."""
    return "n/a" if value is None or math.isnan(value) else f"{value * 1000:.1f} ms"


def fmt_ratio(value: float | None) -> str:
    """A ratio as ``0.42x``."""
    return "n/a" if value is None else f"{value:.2f}x"


def md_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table."""
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return "\n".join(lines)


# ----------------------------------------------------------------------------- files


def write_atomic(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` through a ``.tmp`` sibling and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``, or None when it is missing or unreadable."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


# ----------------------------------------------------------------------------- network


def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def timer() -> Iterator[Callable[[], float]]:
    """``with timer() as elapsed:`` -> ``elapsed()`` is the seconds since entering."""
    start = time.perf_counter()
    yield lambda: time.perf_counter() - start


# ----------------------------------------------------------------------------- host facts


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def _mem_total() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def host_facts(ctx: Context, *, docker: bool = True) -> dict[str, Any]:
    """Cores, CPU, memory, kernel, Docker version and storage driver (unless ``docker`` is
    False: in-process suites never contact the engine), Python, git commit."""
    facts: dict[str, Any] = {
        "cores": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "memory_bytes": _mem_total(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "git_commit": _git_commit(),
    }
    if not docker:
        return facts
    try:
        version = ctx.docker.version()
        info = ctx.docker.info()
    except (BenchError, DockerException) as exc:
        facts["docker_error"] = str(exc)
        return facts
    facts.update(
        docker_version=version.get("Version"),
        docker_api_version=version.get("ApiVersion"),
        docker_storage_driver=info.get("Driver"),
        docker_cgroup_version=info.get("CgroupVersion"),
        docker_cpus=info.get("NCPU"),
    )
    return facts


def host_line(facts: dict[str, Any]) -> str:
    """Host facts as one Markdown line."""
    mem = facts.get("memory_bytes")
    parts = [
        f"{facts.get('cores')} cores ({facts.get('cpu_model') or 'unknown CPU'})",
        f"{mem / 2**30:.1f} GiB RAM" if mem else None,
        f"kernel {facts.get('kernel')}",
        f"Docker {facts.get('docker_version', 'n/a')} ({facts.get('docker_storage_driver', '?')}, "
        f"cgroup v{facts.get('docker_cgroup_version', '?')})",
        f"Python {facts.get('python')}",
        f"commit {facts.get('git_commit') or 'n/a'}",
    ]
    return ", ".join(p for p in parts if p)


def parse_tasks(output: str) -> list[tuple[str, float]]:
    """``profile_tasks``' recap lines as (task, seconds), slowest first."""
    recap = output.rsplit("TASKS RECAP", 1)[-1] if "TASKS RECAP" in output else ""
    tasks = []
    for line in recap.splitlines():
        match = _TASK_LINE.match(line.strip())
        if match:
            tasks.append((match["task"], float(match["seconds"])))
    return sorted(tasks, key=lambda t: -t[1])
