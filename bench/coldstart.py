"""Cold start: ``docker run`` until ``GET /readyz`` answers 200 on a published 127.0.0.1 port.

Measured in the same run: the RAG image, the floor (a standard-library HTTP server on the same
base, ``bench/floor``), the naive single-stage RAG image (``bench/naive``) and, as a diagnostic,
the RAG image with compiled bytecode (``bench/rag-pyc``). Each gets one unrecorded warm-up
start, then ``repeat`` recorded starts; the order reverses every round.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import requests
from docker.errors import APIError
from docker.models.containers import Container

from bench.common import (
    BENCH_LABEL,
    BenchError,
    Context,
    fmt_bytes,
    fmt_ratio,
    fmt_seconds,
    free_port,
    log,
    md_table,
    ratio,
    summary,
)
from bench.images import FLOOR, NAIVE, ensure_image, rag_pyc

CONTAINER_PORT = "5001/tcp"
POLL_INTERVAL = 0.05
READY_TIMEOUT = 180.0
HARDENED: dict[str, Any] = {
    "user": "10001:10001",
    "read_only": True,
    "cap_drop": ["ALL"],
    "security_opt": ["no-new-privileges:true"],
    "mem_limit": "1g",
    "pids_limit": 256,
}
TMP = "size=64m,mode=1777"
DATA_10001 = "size=64m,uid=10001,gid=10001,mode=0750"


@dataclass(frozen=True)
class Subject:
    """An image started the same way each time."""

    key: str
    title: str
    image: str
    options: dict[str, Any] = field(default_factory=dict)
    port: str = CONTAINER_PORT  # the container port /readyz answers on
    suite: str = "foundation"  # value of the container label ai.aidock.bench.suite


def subjects(ctx: Context) -> list[Subject]:
    """floor, rag and naive, with the options the deployed stack uses (naive: plain run)."""
    return [
        Subject(
            "floor", "floor (stdlib http.server)", FLOOR.tag, {**HARDENED, "tmpfs": {"/tmp": TMP}}
        ),
        Subject(
            "rag",
            "rag (ours)",
            ctx.rag_image,
            {**HARDENED, "tmpfs": {"/tmp": TMP, "/data": DATA_10001}},
        ),
        Subject(
            "rag-pyc",
            "rag + .pyc (diagnostic)",
            rag_pyc(ctx.rag_image).tag,
            {**HARDENED, "tmpfs": {"/tmp": TMP, "/data": DATA_10001}},
        ),
        Subject("naive", "naive rag", NAIVE.tag, {"tmpfs": {"/data": "size=64m"}}),
    ]


def _poll_ready(container: Container, url: str, t0: float) -> dict[str, Any]:
    """Poll ``url`` every 50 ms until 200; times are seconds since ``t0``."""
    first_response: float | None = None
    polls = 0
    tick = time.perf_counter()
    with requests.Session() as session:
        while True:
            polls += 1
            try:
                resp = session.get(url, timeout=(1.0, 5.0))
                if first_response is None:
                    first_response = time.perf_counter() - t0
                if resp.status_code == 200:
                    return {
                        "ready_s": time.perf_counter() - t0,
                        "first_response_s": first_response,
                        "polls": polls,
                    }
            except requests.RequestException:
                pass
            elapsed = time.perf_counter() - t0
            if elapsed > READY_TIMEOUT:
                raise BenchError(f"{url} not ready after {READY_TIMEOUT:.0f} s")
            if polls % 20 == 0:
                container.reload()
                if container.status != "running":
                    logs = container.logs(tail=20).decode(errors="replace")
                    raise BenchError(f"container exited ({container.status}) before ready:\n{logs}")
            tick += POLL_INTERVAL
            time.sleep(max(0.0, tick - time.perf_counter()))


@contextlib.contextmanager
def running(ctx: Context, subject: Subject) -> Iterator[dict[str, Any]]:
    """Create, start and poll one container until ready; yield its timings and port.

    The container is removed when the block ends (or fails).
    """
    container: Container | None = None
    name = ""
    try:
        for attempt in range(3):
            port = free_port()
            name = f"aidock-bench-{subject.key}-{uuid.uuid4().hex[:8]}"
            t0 = time.perf_counter()
            container = ctx.docker.containers.create(
                subject.image,
                name=name,
                detach=True,
                ports={subject.port: ("127.0.0.1", port)},
                labels={BENCH_LABEL: "1", f"{BENCH_LABEL}.suite": subject.suite},
                healthcheck={"test": ["NONE"]},
                **subject.options,
            )
            created = time.perf_counter() - t0
            try:
                container.start()
            except APIError as exc:
                if attempt < 2 and ("already allocated" in str(exc) or "in use" in str(exc)):
                    _remove(container, name)  # the free port was taken meanwhile: try another
                    container = None
                    continue
                raise
            started = time.perf_counter() - t0
            ready = _poll_ready(container, f"http://127.0.0.1:{port}/readyz", t0)
            break
        else:
            raise BenchError(f"no free port for {subject.key} after 3 attempts")
        yield {"create_s": created, "start_s": started, **ready, "port": port}
    finally:
        if container is not None:
            _remove(container, name)


def _remove(container: Container, name: str) -> None:
    try:
        container.remove(force=True, v=True)
    except APIError as exc:
        log(f"could not remove container {name}: {exc}")


def start_once(ctx: Context, subject: Subject) -> dict[str, Any]:
    """Create, start and poll one container until ready; always remove it."""
    with running(ctx, subject) as sample:
        return sample


def remove_leftovers(ctx: Context, suite: str | None = None) -> None:
    """Remove containers of an interrupted earlier run (label ``ai.aidock.bench=1``).

    With ``suite``, only those of that suite (``ai.aidock.bench.suite``): other suites may be
    running at the same time.
    """
    labels = [f"{BENCH_LABEL}=1"] + ([f"{BENCH_LABEL}.suite={suite}"] if suite else [])
    for container in ctx.docker.containers.list(all=True, filters={"label": labels}):
        log(f"removing leftover bench container {container.name}")
        try:
            container.remove(force=True, v=True)
        except APIError as exc:
            log(f"could not remove {container.name}: {exc}")


def measure_starts(
    ctx: Context, subs: list[Subject]
) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    """One unrecorded warm-up start of each subject, then ``ctx.repeat`` rounds whose order
    reverses every round; returns every sample and, per subject, the recorded ones summarised.
    """
    samples: list[dict[str, Any]] = []
    for subject in subs:
        sample = start_once(ctx, subject)
        log(f"warm-up {subject.key}: ready in {sample['ready_s']:.2f} s")
        samples.append({"subject": subject.key, "round": 0, "warmup": True, **sample})
    for rnd in range(1, ctx.repeat + 1):
        order = subs if rnd % 2 else list(reversed(subs))
        for position, subject in enumerate(order):
            sample = start_once(ctx, subject)
            log(f"round {rnd}/{ctx.repeat} {subject.key}: ready in {sample['ready_s']:.2f} s")
            samples.append(
                {
                    "subject": subject.key,
                    "round": rnd,
                    "position": position,
                    "warmup": False,
                    **sample,
                }
            )
    summaries: dict[str, dict[str, Any]] = {}
    for subject in subs:
        recorded = [s for s in samples if s["subject"] == subject.key and not s["warmup"]]
        summaries[subject.key] = {
            "title": subject.title,
            "image": subject.image,
            "ready_s": summary([s["ready_s"] for s in recorded]),
            "first_response_s": summary([s["first_response_s"] for s in recorded]),
            "start_s": summary([s["start_s"] for s in recorded]),
        }
    return samples, summaries


def run_coldstart(ctx: Context) -> dict[str, Any]:
    """Warm-up plus ``ctx.repeat`` alternating starts of every subject."""
    remove_leftovers(ctx)
    builds = {
        "floor": ensure_image(ctx, FLOOR),
        "rag-pyc": ensure_image(ctx, rag_pyc(ctx.rag_image)),
        "naive": ensure_image(ctx, NAIVE),
    }
    rag_size = ctx.docker.images.get(ctx.rag_image).attrs["Size"]
    subs = subjects(ctx)
    samples, summaries = measure_starts(ctx, subs)
    med = {k: v["ready_s"]["median"] for k, v in summaries.items()}
    return {
        "repeat": ctx.repeat,
        "poll_interval_s": POLL_INTERVAL,
        "options": {s.key: s.options for s in subs},
        "summaries": summaries,
        "ratios": {
            "rag_vs_floor": ratio(med["rag"], med["floor"]),
            "naive_vs_floor": ratio(med["naive"], med["floor"]),
            "rag_vs_naive": ratio(med["rag"], med["naive"]),
            "rag_pyc_vs_floor": ratio(med["rag-pyc"], med["floor"]),
            "rag_pyc_vs_rag": ratio(med["rag-pyc"], med["rag"]),
        },
        "rag_size_bytes": int(rag_size),
        "samples": samples,
        "builds": builds,
    }


def render_coldstart(result: dict[str, Any]) -> str:
    """The cold-start section of the report."""
    sums = result["summaries"]
    floor = sums["floor"]["ready_s"]["median"]
    rows = []
    for key, item in sums.items():
        ready = item["ready_s"]
        rows.append(
            [
                item["title"],
                f"`{item['image']}`",
                f"**{fmt_seconds(ready['median'])}**",
                f"{fmt_seconds(ready['min'])} / {fmt_seconds(ready['max'])}",
                fmt_seconds(item["first_response_s"]["median"]),
                fmt_seconds(item["start_s"]["median"]),
                fmt_ratio(ratio(ready["median"], floor)) if key != "floor" else "1.00x",
            ]
        )
    table = md_table(
        [
            "image",
            "ref",
            "ready (median)",
            "min / max",
            "first HTTP answer",
            "create+start returned",
            "vs floor",
        ],
        rows,
    )
    r = {key: fmt_ratio(value) for key, value in result["ratios"].items()}
    return (
        f"{table}\n\n{result['repeat']} recorded starts each (after one warm-up start); "
        f"rag/floor **{r['rag_vs_floor']}**, naive/floor {r['naive_vs_floor']}, "
        f"rag/naive {r['rag_vs_naive']} (medians).{_pyc_note(result)}"
    )


def _pyc_note(result: dict[str, Any]) -> str:
    build = result["builds"].get("rag-pyc")
    med = {k: v["ready_s"]["median"] for k, v in result["summaries"].items()}
    if not build or "rag-pyc" not in med:
        return ""
    extra = build["size_bytes"] - result["rag_size_bytes"]
    return (
        f"\n\nThe diagnostic `rag + .pyc` row is the RAG image plus compiled bytecode for its venv "
        f"and the standard library (`bench/rag-pyc/Dockerfile`): {fmt_bytes(extra)} more, ready "
        f"in {fmt_seconds(med['rag-pyc'])} instead of {fmt_seconds(med['rag'])}. It checks that "
        "the RAG image ships the bytecode it needs: with a read-only root and "
        "`PYTHONDONTWRITEBYTECODE=1` a missing `.pyc` is compiled again at every start (this "
        "row first showed 2.6 s against 6.8 s, which is why the images now keep their bytecode)."
    )
