"""Query latency of the deployed RAG stack (``make up``) at concurrency 1 and 8.

The shipped documents (data/docs) are ingested into the collection ``bench`` first (an
idempotent upsert); each level sends ``warmup`` unrecorded then ``requests`` recorded questions
drawn in turn from ``QUESTIONS``, one ``requests.Session`` per thread.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import requests

from bench.common import (
    DOCS_DIR,
    BenchError,
    Context,
    fmt_ms,
    log,
    md_table,
    summary,
)

COLLECTION = "bench"
LEVELS = (1, 8)
TIMEOUT = 30.0
# (question, the documents that answer it)
QUESTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("How long are invoices retained?", ("data-retention-policy", "invoice-processing-guideline")),
    ("Who has to approve a claim above EUR 250,000?", ("claims-handling-policy",)),
    ("What is the hotel limit per night in London or Paris?", ("travel-expense-policy",)),
    ("How long must the password of a privileged account be?", ("it-password-policy",)),
    (
        "Within how many hours is a personal data breach notified to the supervisory authority?",
        ("security-incident-reporting",),
    ),
    ("Which documents identify a natural person when opening an account?", ("kyc-procedure",)),
    ("Is there a fee for further copies of my personal data?", ("data-subject-request-procedure",)),
    ("At what resolution are paper documents scanned?", ("document-ai-processing-guideline",)),
    ("When is a vendor classified as a critical vendor?", ("vendor-onboarding-procedure",)),
    (
        "What price deviation on an invoice is accepted automatically?",
        ("invoice-processing-guideline",),
    ),
)


def check_stack(url: str) -> dict[str, Any]:
    """GET /readyz; a clear error when the stack is not up."""
    hint = "run `make up` first (it deploys the RAG stack on 127.0.0.1:5001)"
    try:
        resp = requests.get(f"{url}/readyz", timeout=5)
    except requests.RequestException as exc:
        reason = type(exc).__name__
        raise BenchError(f"the RAG stack is not answering on {url} ({reason}): {hint}") from exc
    if resp.status_code != 200:
        raise BenchError(f"the RAG stack on {url} is not ready (HTTP {resp.status_code}): {hint}")
    body: dict[str, Any] = resp.json()
    return body


def ingest_docs(url: str) -> dict[str, Any]:
    """Upsert data/docs/*.txt into the ``bench`` collection (id = file stem)."""
    files = sorted(DOCS_DIR.glob("*.txt"))
    if not files:
        raise BenchError(f"no documents in {DOCS_DIR}")
    documents = [
        {"id": p.stem, "text": p.read_text(encoding="utf-8"), "source": p.name} for p in files
    ]
    started = time.perf_counter()
    resp = requests.post(
        f"{url}/v1/collections/{COLLECTION}/documents",
        json={"documents": documents},
        timeout=120,
    )
    seconds = time.perf_counter() - started
    if resp.status_code != 201:
        raise BenchError(f"ingest into {COLLECTION!r} failed: HTTP {resp.status_code} {resp.text}")
    body: dict[str, Any] = resp.json()
    return {**body, "seconds": seconds}


def _level(url: str, concurrency: int, count: int, warmup: int) -> dict[str, Any]:
    """``warmup`` then ``count`` POST queries shared by ``concurrency`` threads."""
    lock = threading.Lock()
    counters = {"warmup": 0, "measured": 0}
    marks: dict[str, float] = {}
    samples: list[dict[str, Any]] = []
    errors: list[str] = []
    barrier = threading.Barrier(
        concurrency, action=lambda: marks.setdefault("t0", time.perf_counter())
    )

    def take(phase: str, limit: int) -> int | None:
        with lock:
            index = counters[phase]
            if index >= limit:
                return None
            counters[phase] = index + 1
            return index

    def ask(session: requests.Session, index: int, thread: int, record: bool) -> None:
        question, expected = QUESTIONS[index % len(QUESTIONS)]
        started = time.perf_counter()
        try:
            resp = session.post(
                f"{url}/v1/collections/{COLLECTION}/query",
                json={"question": question},
                timeout=TIMEOUT,
            )
            status = resp.status_code
            body = resp.json() if status == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            status, body = 0, {}
            with lock:
                errors.append(f"{type(exc).__name__}: {exc}")
        latency = time.perf_counter() - started
        if not record:
            return
        sources = [s.get("document_id") for s in body.get("sources", [])]
        with lock:
            samples.append(
                {
                    "index": index,
                    "thread": thread,
                    "question": index % len(QUESTIONS),
                    "start_s": started - marks["t0"],
                    "latency_s": latency,
                    "status": status,
                    "top_source": sources[0] if sources else None,
                    "expected_in_sources": any(doc in sources for doc in expected),
                    "answer_chars": len(body.get("answer") or ""),
                    "mode": body.get("mode"),
                }
            )

    def worker(thread: int) -> None:
        with requests.Session() as session:
            while (index := take("warmup", warmup)) is not None:
                ask(session, index, thread, record=False)
            barrier.wait()
            while (index := take("measured", count)) is not None:
                ask(session, index, thread, record=True)

    threads = [threading.Thread(target=worker, args=(n,), daemon=True) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - marks["t0"]
    samples.sort(key=lambda s: s["index"])
    ok = [s for s in samples if s["status"] == 200]
    lat = summary([s["latency_s"] for s in ok])
    return {
        "concurrency": concurrency,
        "requests": count,
        "warmup": warmup,
        "ok": len(ok),
        "errors": len(samples) - len(ok),
        "error_messages": errors[:10],
        "wall_s": wall,
        "requests_per_s": len(ok) / wall if wall > 0 else None,
        "latency_s": {**lat, "p50": lat.get("median")},
        "expected_source_rate": sum(s["expected_in_sources"] for s in ok) / len(ok) if ok else None,
        "expected_top1_rate": (
            sum(s["top_source"] == QUESTIONS[s["question"]][1] for s in ok) / len(ok)
            if ok
            else None
        ),
        "modes": sorted({str(s["mode"]) for s in ok}),
        "samples": samples,
    }


def _healthz(url: str, count: int = 100) -> dict[str, Any]:
    """Latency of GET /healthz (HTTP + gunicorn + Flask, no retrieval) at concurrency 1."""
    latencies = []
    with requests.Session() as session:
        for n in range(count + 5):
            started = time.perf_counter()
            resp = session.get(f"{url}/healthz", timeout=TIMEOUT)
            if n >= 5 and resp.status_code == 200:
                latencies.append(time.perf_counter() - started)
    return {"requests": count, "latency_s": summary(latencies), "samples_s": latencies}


def run_latency(ctx: Context) -> dict[str, Any]:
    """Check the stack, ingest, then measure each concurrency level."""
    ready = check_stack(ctx.rag_url)
    ingest = ingest_docs(ctx.rag_url)
    log(f"ingested {ingest['documents']} documents ({ingest['passages']} passages)")
    levels = []
    for concurrency in LEVELS:
        level = _level(ctx.rag_url, concurrency, ctx.requests, ctx.warmup)
        lat = level["latency_s"]
        log(
            f"concurrency {concurrency}: p50 {fmt_ms(lat.get('p50'))}, "
            f"p95 {fmt_ms(lat.get('p95'))}, {level['requests_per_s']:.1f} req/s, "
            f"{level['errors']} errors"
        )
        levels.append(level)
    if any(level["errors"] for level in levels):
        log("some queries failed; see error_messages in the JSON")
    return {
        "url": ctx.rag_url,
        "collection": COLLECTION,
        "ready": ready,
        "ingest": ingest,
        "questions": [{"question": q, "expected_documents": list(d)} for q, d in QUESTIONS],
        "healthz": _healthz(ctx.rag_url),
        "levels": levels,
    }


def render_latency(result: dict[str, Any]) -> str:
    """The latency section of the report."""
    rows = []
    for level in result["levels"]:
        lat = level["latency_s"]
        rate = level["expected_source_rate"]
        rows.append(
            [
                str(level["concurrency"]),
                f"{level['ok']}/{level['requests']}",
                f"**{fmt_ms(lat.get('p50'))}**",
                fmt_ms(lat.get("p95")),
                fmt_ms(lat.get("mean")),
                fmt_ms(lat.get("max")),
                f"**{level['requests_per_s']:.1f}**",
                "n/a" if rate is None else f"{rate:.0%}",
            ]
        )
    table = md_table(
        ["concurrency", "ok", "p50", "p95", "mean", "max", "requests/s", "answer source found"],
        rows,
    )
    modes = sorted({m for level in result["levels"] for m in level.get("modes", [])})
    hz = result["healthz"]["latency_s"]
    ingest = result["ingest"]
    return (
        f"{table}\n\nAnswer mode: {', '.join(modes) or 'n/a'}. For scale: `GET /healthz` "
        "(HTTP, gunicorn and Flask, no retrieval) "
        f"p50 {fmt_ms(hz.get('median'))}, p95 {fmt_ms(hz.get('p95'))} at concurrency 1. "
        f"Ingest of {ingest['documents']} documents ({ingest['passages']} passages): "
        f"{ingest['seconds']:.2f} s."
    )
