"""A closed-loop load generator: ``concurrency`` threads share ``warmup + count`` calls.

``call(index)`` does one unit of work (an HTTP request, a model call) and raises on failure;
the generator times each call, counts the failures and reports requests/s over the recorded
calls. Used by the ``bento`` suite for served and in-process throughput alike, so that both
sides of a ratio are measured the same way.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable
from typing import Any

import requests

from bench.common import BenchError, summary

Call = Callable[[int], object]
# What a failed call may raise: HTTP errors, bad JSON, an answer the caller rejected.
FAILURES: tuple[type[Exception], ...] = (BenchError, requests.RequestException, ValueError)


def _phase(call: Call, concurrency: int, total: int, first: int) -> tuple[list[float], list[str]]:
    """Run calls ``first .. first + total - 1`` on ``concurrency`` threads."""
    indices = itertools.count(first)
    end = first + total
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                index = next(indices)
            if index >= end:
                return
            started = time.perf_counter()
            try:
                call(index)
            except FAILURES as exc:
                with lock:
                    errors.append(f"{type(exc).__name__}: {exc}"[:300])
                continue
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies, errors


def run_load(call: Call, concurrency: int, count: int, warmup: int = 0) -> dict[str, Any]:
    """``warmup`` unrecorded then ``count`` recorded calls; latencies in seconds."""
    if concurrency < 1 or count < 1:
        raise ValueError("concurrency and count must be at least 1")
    _phase(call, concurrency, max(0, warmup), 0)
    started = time.perf_counter()
    latencies, errors = _phase(call, concurrency, count, max(0, warmup))
    wall = time.perf_counter() - started
    lat = summary(latencies)
    return {
        "concurrency": concurrency,
        "requests": count,
        "warmup": max(0, warmup),
        "ok": len(latencies),
        "errors": len(errors),
        "error_messages": errors[:10],
        "wall_s": wall,
        "requests_per_s": len(latencies) / wall if wall > 0 else None,
        "latency_s": {**lat, "p50": lat.get("median")},
    }
