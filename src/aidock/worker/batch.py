"""The batch: every document sent through the instance, each result written once.

``run_batch`` lists the documents, skips those already in the output, asks the agent for an
instance and lets ``BatchRunner`` send the rest ``concurrency`` at a time; an AI that dies
is replaced, the instance is terminated at the end, also after errors, Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

from aidock.agent.client import AgentClient
from aidock.cli import EXIT_API_ERROR, EXIT_OK
from aidock.client.http import AiUnavailableError, ApiClient, ApiError
from aidock.worker.adapters import ResponseInvalid, adapter_for
from aidock.worker.inputs import Document, DocumentError, list_documents, read_document
from aidock.worker.instance import OUTAGE_WAIT, BatchAborted, InstanceHolder
from aidock.worker.progress import Progress
from aidock.worker.replicas import NoReplica
from aidock.worker.results import ResultLog, load_results, rewrite_results

log = logging.getLogger(__name__)

EXIT_PARTIAL = 1
# Replicas one document may see stop answering before the instance counts as dead.
MAX_DROPS = 8
EXIT_INTERRUPTED = 130
SUMMARY_SCHEMA = "worker-summary/v1"


@dataclass(frozen=True)
class RunOptions:
    """Validated options of ``aidock worker run``."""

    ai: str
    version: str
    input: Path
    output: Path
    agent_url: str
    token: str
    concurrency: int = 4
    timeout: float = 60.0
    retries: int = 3
    retry_failed: bool = False
    max_replacements: int = 3
    replicas: int = 1
    backoff: float = 0.5
    outage_wait: float = OUTAGE_WAIT


@dataclass
class Summary:
    """What a run did."""

    total: int
    skipped: int
    ok: int = 0
    failed: int = 0
    elapsed: float = 0.0
    start_seconds: float = 0.0
    replacements: int = 0
    aborted: str | None = None
    interrupted: bool = False
    instances: list[str] = field(default_factory=list)
    replica_calls: dict[str, int] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: _utcnow())

    @property
    def processed(self) -> int:
        """Documents written by this run."""
        return self.ok + self.failed

    @property
    def left(self) -> int:
        """Documents neither done before nor by this run."""
        return self.total - self.skipped - self.processed

    def record(self, options: RunOptions, exit_code: int) -> dict[str, Any]:
        """The summary file's content (``SUMMARY_SCHEMA``)."""
        working = self.elapsed - self.start_seconds
        return {
            "schema_version": SUMMARY_SCHEMA,
            "ai": options.ai,
            "version": options.version,
            "input": str(options.input),
            "output": str(options.output),
            "documents": self.total,
            "already_done": self.skipped,
            "ok": self.ok,
            "failed": self.failed,
            "not_done": self.left,
            "exit_code": exit_code,
            "aborted": self.aborted,
            "interrupted": self.interrupted,
            "elapsed_seconds": round(self.elapsed, 3),
            "instance_start_seconds": round(self.start_seconds, 3),
            "docs_per_second": round(self.processed / working, 3) if working > 0 else 0.0,
            "instances_replaced": self.replacements,
            "instances_terminated": list(self.instances),
            "replica_calls": dict(self.replica_calls),
            "started_at": _iso(self.started_at),
            "finished_at": _iso(_utcnow()),
            "summary": self.text(options.output),
        }

    def text(self, output: Path) -> str:
        """The summary line."""
        working = self.elapsed - self.start_seconds
        rate = self.processed / working if working > 0 else 0.0
        left = self.left
        parts = [
            f"documents: {self.total} ({self.skipped} already done)",
            f"ok: {self.ok}",
            f"failed: {self.failed}",
        ]
        if left:
            parts.append(f"not done: {left}")
        timing = f"time: {self.elapsed:.1f}s"
        if self.start_seconds:
            timing += f" (instance start {self.start_seconds:.1f}s)"
        parts += [timing, f"{rate:.2f} docs/s"]
        if self.replacements:
            parts.append(f"instances replaced: {self.replacements}")
        return ", ".join(parts) + f" -> {output}"


def _utcnow() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def failure(message: str, status: int | None = None, field: str | None = None) -> dict[str, Any]:
    """The outcome part of a failed document's line."""
    return {"ok": False, "error": message, "status": status, "field": field}


class BatchRunner:
    """Sends documents through the holder's instance and writes the results."""

    def __init__(
        self,
        holder: InstanceHolder,
        results: ResultLog,
        *,
        concurrency: int,
        progress: Progress | None = None,
        on_record: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        self.holder = holder
        self.on_record = on_record
        self.results = results
        self.concurrency = concurrency
        self.progress = progress
        self.stop = threading.Event()
        self.abort: BatchAborted | None = None

    def process(self, doc: Document) -> bool | None:
        """Send one document and write its line; None when stopped before a result."""
        if self.stop.is_set():
            return None
        started = time.monotonic()
        digest: str | None = None
        meta: dict[str, Any] = {}
        try:
            text, digest = read_document(doc)
            called = self._call(doc, text)
            if called is None:
                return None
            outcome, meta = called
        except DocumentError as exc:
            outcome = failure(exc.message, None, exc.field)
        record = {
            "document": doc.relpath,
            **outcome,
            "sha256": digest,
            **meta,
            "elapsed_ms": int((time.monotonic() - started) * 1000),
        }
        if self.results.append(record):
            if self.progress is not None:
                self.progress.update(bool(record["ok"]))
            if self.on_record is not None:
                self.on_record(record)
        return bool(record["ok"])

    def _call(self, doc: Document, text: str) -> tuple[dict[str, Any], dict[str, Any]] | None:
        """(outcome, instance fields); None when stopped. A replica that stops answering is
        dropped and the document sent to another; a dead instance is replaced."""
        dropped = 0
        while True:
            if self.stop.is_set():
                return None
            generation, instance, pool = self.holder.replicas_of()
            adapter = adapter_for(instance.schema_version)
            meta = {
                "ai": instance.ai,
                "version": instance.version,
                "schema_version": instance.schema_version,
                "instance": instance.id,
            }
            spread = instance.replicas > 1 or len(pool) > 1
            try:
                with pool.lease() as replica:
                    if spread:
                        meta["replica"] = replica.url
                    return {"ok": True, "result": adapter.call(replica.api, text, doc)}, meta
            except NoReplica:
                if dropped <= MAX_DROPS and self.holder.refresh_replicas(generation):
                    continue  # the agent lists tasks Swarm started elsewhere
                reason = "no replica of the instance answers"
            except AiUnavailableError as exc:
                if self.stop.is_set():
                    return None
                reason = exc.reason
                if spread:
                    if self.holder.replica_alive(replica.url, instance.ready_path):
                        return failure(f"the AI gave no usable answer: {reason}"), meta
                    if pool.drop(replica.url):
                        log.warning(
                            "replica %s stopped answering (%s): dropped", replica.url, reason
                        )
                    dropped += 1
                    if dropped <= MAX_DROPS:
                        continue  # the document goes to another replica
                elif self.holder.alive(instance):  # a slow document, not a dead AI
                    return failure(f"the AI gave no usable answer: {reason}"), meta
            except ApiError as exc:
                return failure(exc.message, exc.status, exc.field), meta
            except ResponseInvalid as exc:
                return failure(str(exc)), meta
            if generation == self.holder.generation and self.holder.wait_out_outage(instance):
                self.holder.refresh_replicas(generation)
                dropped = 0
                continue  # the platform was away, the AI is back: send it again
            self.holder.replace(generation, reason)
            dropped = 0

    def _guarded(self, doc: Document) -> bool | None:
        try:
            return self.process(doc)
        except BatchAborted as exc:
            if self.abort is None:
                self.abort = exc
        except Exception as exc:
            log.exception("unexpected error on %s", doc.relpath)
            if self.abort is None:
                self.abort = BatchAborted(
                    f"unexpected error on {doc.relpath}: {exc!r}", EXIT_API_ERROR
                )
        self.stop.set()
        return None

    def run(self, documents: list[Document], summary: Summary) -> None:
        """Process ``documents`` with bounded concurrency (a ``KeyboardInterrupt`` stops it)."""
        pending = iter(documents)
        executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix="worker")
        running: set[Future[bool | None]] = set()
        try:
            for doc in _take(pending, self.concurrency * 2):
                running.add(executor.submit(self._guarded, doc))
            while running:
                finished, running = wait(running, timeout=0.5, return_when=FIRST_COMPLETED)
                for future in finished:
                    outcome = future.result()
                    if outcome is True:
                        summary.ok += 1
                    elif outcome is False:
                        summary.failed += 1
                if not self.stop.is_set():
                    for doc in _take(pending, len(finished)):
                        running.add(executor.submit(self._guarded, doc))
        except BaseException:
            self.stop.set()
            self.holder.cancel.set()
            raise
        finally:
            executor.shutdown(wait=True, cancel_futures=True)


def _take(items: Iterator[Document], count: int) -> list[Document]:
    taken: list[Document] = []
    for item in items:
        taken.append(item)
        if len(taken) >= count:
            break
    return taken


@contextlib.contextmanager
def _interruptible() -> Iterator[None]:
    """SIGTERM raises ``KeyboardInterrupt`` like Ctrl-C (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _raise(signum: int, _frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, _raise)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_batch(
    options: RunOptions,
    *,
    stream: TextIO | None = None,
    on_record: Callable[[dict[str, Any]], None] | None = None,
) -> tuple[int, Summary]:
    """Run the batch; returns (exit code, summary).

    Messages go to ``stream`` (stderr); ``on_record`` sees each line once it is on disk.
    """
    err = stream or sys.stderr
    documents = list_documents(options.input, exclude=options.output)
    records = load_results(options.output)
    if options.retry_failed:
        failed = [name for name, rec in records.items() if not rec.get("ok")]
        if failed:
            records = {name: rec for name, rec in records.items() if rec.get("ok")}
            rewrite_results(options.output, records)
            print(f"worker: retrying {len(failed)} failed documents", file=err)
    todo = [doc for doc in documents if doc.relpath not in records]
    summary = Summary(total=len(documents), skipped=len(documents) - len(todo))
    started = time.monotonic()
    if not todo:
        return EXIT_OK, summary
    agent = AgentClient(options.agent_url, options.token, retries=options.retries)

    def make_api(endpoint: str) -> ApiClient:
        return ApiClient(
            endpoint, timeout=options.timeout, retries=options.retries, backoff=options.backoff
        )

    holder = InstanceHolder(
        agent,
        options.ai,
        options.version,
        make_api,
        max_replacements=options.max_replacements,
        outage_wait=options.outage_wait,
        replicas=options.replicas,
    )
    code = EXIT_OK
    with _interruptible(), ResultLog(options.output, set(records)) as results:
        try:
            instance = holder.acquire()
            summary.start_seconds = time.monotonic() - started
            adapter_for(instance.schema_version)  # fail before sending anything
            print(
                f"worker: {len(todo)} documents to {options.ai} {options.version} "
                f"(instance {instance.id} at {instance.endpoint}, "
                f"{len(instance.endpoints) or 1} replicas), {summary.skipped} already done",
                file=err,
            )
            progress = Progress(len(todo), err)
            runner = BatchRunner(
                holder,
                results,
                concurrency=options.concurrency,
                progress=progress,
                on_record=on_record,
            )
            try:
                runner.run(todo, summary)
            finally:
                progress.finish()
            if runner.abort is not None:
                raise runner.abort
        except BatchAborted as exc:
            summary.aborted = exc.message
            code = exc.exit_code
        except LookupError as exc:
            summary.aborted = str(exc)
            code = EXIT_API_ERROR
        except KeyboardInterrupt:
            summary.interrupted = True
            code = EXIT_INTERRUPTED
        finally:
            if holder.pool is not None:
                summary.replica_calls = dict(holder.pool.calls)
            holder.release()
            summary.elapsed = time.monotonic() - started
            summary.replacements = holder.replacements
            summary.instances = holder.terminated
    if code == EXIT_OK and summary.failed:
        code = EXIT_PARTIAL
    return code, summary
