"""``aidock worker run``: send every document of a directory to an AI started by the agent.

The worker asks the agent for an instance of ``--ai`` at ``--version``, calls it for each
file under ``--input`` (``--concurrency`` at a time; per-request ``--timeout``;
``--retries`` with backoff on connection errors and 502/503/504) through the *call
adapter* of the schema the instance speaks, validates every answer against that schema,
and appends one JSON line per document to ``--output``:

    {"document": "a/b.txt", "ok": true, "result": {...}, ...}
    {"document": "c.txt", "ok": false, "error": "...", "status": 422, "field": "text", ...}

Each line is flushed and fsync'ed under a lock, so a crash loses at most the line being
written (a truncated last line is dropped on the next run). A rerun skips every document
already in the output (``--retry-failed`` retries the failed ones, replacing their lines),
so each document appears exactly once. When connection errors persist, the worker asks
whether the platform is away (the agent unreachable too, as while dockerd restarts) and
then waits up to ``--outage-wait`` seconds for the same instance to answer again; when
the AI container itself died, it terminates that instance, asks the agent for a new one
(waiting out a 503 of the agent the same way) and goes on. The instance is terminated at
the end, also after errors, Ctrl-C and SIGTERM; a termination the agent cannot do yet
(Docker restarting: 503) is retried with backoff.

The summary goes to stdout as one line and, as JSON, beside the output file
(``<output>.summary.json``, replaced atomically), with the exit status in it: a wrapper
whose ``docker compose run`` lost the container (exit 125 while dockerd restarted) reads
the truth there.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import Any, Protocol, TextIO

import requests
from pydantic import BaseModel, ValidationError

from aidock.agent.client import (
    AGENT_URL_ENV,
    DEFAULT_AGENT_URL,
    TOKEN_FILE_ENV,
    AgentClient,
    TokenError,
    read_token,
)
from aidock.cli import (
    EXIT_API_ERROR,
    EXIT_OK,
    EXIT_UNREACHABLE,
    EXIT_USAGE,
    int_range,
    positive_float,
)
from aidock.client.http import AiUnavailableError, ApiClient, ApiError
from aidock.schemas import compatible
from aidock.schemas.agent import InstanceOut
from aidock.schemas.bento import resolve
from aidock.schemas.rag import IngestRequest, IngestResponse

log = logging.getLogger(__name__)

EXIT_PARTIAL = 1
EXIT_INTERRUPTED = 130
RAG_COLLECTION = "batch"
MAX_DOCUMENT_BYTES = 5_000_000
ALIVE_TIMEOUT = 5.0
OUTAGE_WAIT = 120.0
MAX_WAIT_STEP = 10.0
SUMMARY_SUFFIX = ".summary.json"
SUMMARY_SCHEMA = "worker-summary/v1"


# -- documents ------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """A file of the input directory; ``relpath`` (POSIX) is its key in the output."""

    relpath: str
    path: Path


def summary_path(output: Path) -> Path:
    """Where the summary of a run writing ``output`` goes: ``<output>.summary.json``."""
    return output.with_name(output.name + SUMMARY_SUFFIX)


def list_documents(root: Path, exclude: Path | None = None) -> list[Document]:
    """Regular files under ``root`` (hidden ones skipped), sorted by relative path.

    ``exclude`` (the output file) and its summary file are skipped too.
    """
    skip = {exclude.resolve(), summary_path(exclude).resolve()} if exclude else set()
    docs: list[Document] = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts) or not path.is_file():
            continue
        if path.resolve() in skip:
            continue
        docs.append(Document(rel.as_posix(), path))
    return sorted(docs, key=lambda d: d.relpath)


class DocumentError(Exception):
    """A document that cannot be sent (unreadable, not text, invalid for the schema)."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


def read_document(doc: Document) -> tuple[str, str]:
    """(text, sha256 of the bytes); ``DocumentError`` when unreadable or not UTF-8."""
    try:
        data = doc.path.read_bytes()
    except OSError as exc:
        raise DocumentError(f"cannot read {doc.relpath}: {exc.strerror or exc}") from exc
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"{doc.relpath} exceeds {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise DocumentError(f"{doc.relpath} is not UTF-8 text ({exc.reason})") from exc
    return text, hashlib.sha256(data).hexdigest()


# -- results --------------------------------------------------------------------------


class ResultsError(Exception):
    """The output file cannot be used (unreadable or a corrupt line)."""


def load_results(path: Path) -> dict[str, dict[str, Any]]:
    """Records already in ``path`` by document; a truncated last line is cut off the file."""
    if not path.exists():
        return {}
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ResultsError(f"cannot read {path}: {exc.strerror or exc}") from exc
    complete = data.rfind(b"\n") + 1
    if complete < len(data):
        log.warning("%s: dropping a truncated last line (%d bytes)", path, len(data) - complete)
        with path.open("r+b") as fh:
            fh.truncate(complete)
            fh.flush()
            os.fsync(fh.fileno())
    records: dict[str, dict[str, Any]] = {}
    for number, raw in enumerate(data[:complete].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = json.loads(raw)
        except ValueError as exc:
            raise ResultsError(f"{path}:{number} is not JSON ({exc}); fix or remove it") from exc
        if not isinstance(record, dict) or not isinstance(record.get("document"), str):
            raise ResultsError(f"{path}:{number} has no 'document'; fix or remove it")
        if record["document"] in records:
            log.warning("%s:%d repeats %s; the first line counts", path, number, record["document"])
            continue
        records[record["document"]] = record
    return records


def rewrite_results(path: Path, records: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace ``path`` atomically with ``records`` (one line each)."""
    _replace(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records.values()))


def _replace(path: Path, text: str) -> None:
    """Write ``text`` to a hidden sibling, fsync it, rename it over ``path``, fsync the dir."""
    tmp = path.with_name(f".{path.name}.tmp")
    with tmp.open("w", encoding="utf-8") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    _fsync_dir(path.parent)


def _fsync_dir(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


class ResultLog:
    """Append-only JSONL of results: one line per document, written once, fsync'ed."""

    def __init__(self, path: Path, done: set[str]) -> None:
        self.path = path
        self.done = set(done)
        self._lock = threading.Lock()
        self._fh: TextIO | None = None

    def __enter__(self) -> ResultLog:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        new = not self.path.exists()
        self._fh = self.path.open("a", encoding="utf-8")
        if new:
            _fsync_dir(self.path.parent)
        return self

    def __exit__(self, *_: object) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def append(self, record: Mapping[str, Any]) -> bool:
        """Write ``record`` unless its document is already there; True when written."""
        line = json.dumps(record, ensure_ascii=False) + "\n"
        with self._lock:
            if self._fh is None:
                raise RuntimeError("the result log is not open")
            if record["document"] in self.done:
                log.error("not writing %s twice", record["document"])
                return False
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self.done.add(record["document"])
            return True


# -- call adapters --------------------------------------------------------------------


class ResponseInvalid(Exception):
    """The AI answered, but not in the schema it declared."""


class CallAdapter(Protocol):
    """How to send one document to an AI of one schema version and check the answer."""

    schema_version: str

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        """Send ``text``; return the validated answer (raise ``DocumentError`` or
        ``ResponseInvalid``; ``ApiError``/``AiUnavailableError`` pass through)."""
        ...


def _validated(model: type[BaseModel], body: Any, what: str) -> dict[str, Any]:
    try:
        return model.model_validate(body).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise ResponseInvalid(f"{what} does not match the schema: {loc}: {first['msg']}") from exc


@dataclass(frozen=True)
class RagIngestAdapter:
    """rag/v1: ingest the document (id = relative path); result = the ingest counts."""

    schema_version: str = "rag/v1"
    collection: str = RAG_COLLECTION

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        payload = {"documents": [{"id": doc.relpath, "text": text, "source": doc.relpath}]}
        try:
            IngestRequest.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise DocumentError(f"{doc.relpath}: {first['msg']}", "text") from exc
        body = api.post_json(
            f"/v1/collections/{self.collection}/documents", payload, idempotent=True
        )
        result = _validated(IngestResponse, body, "the ingest answer")
        if result["documents"] != 1:
            raise ResponseInvalid(f"the AI ingested {result['documents']} documents, not 1")
        return result


@dataclass(frozen=True)
class BentoAdapter:
    """extraction/v1, categorization/v1: ``POST {"text"}`` to ``path``, validated both ways."""

    schema_version: str
    path: str

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        pair = resolve(self.schema_version)
        try:
            payload = pair.request.model_validate({"text": text}).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            raise DocumentError(f"{doc.relpath}: {first['msg']}", "text") from exc
        body = api.post_json(self.path, payload, idempotent=True)
        return _validated(pair.response, body, f"the {pair.ai_type} answer")


ADAPTERS: dict[str, Callable[[], CallAdapter]] = {
    "rag/v1": RagIngestAdapter,
    "extraction/v1": lambda: BentoAdapter("extraction/v1", "/extract"),
    "categorization/v1": lambda: BentoAdapter("categorization/v1", "/categorize"),
}


def adapter_for(schema_version: str) -> CallAdapter:
    """The adapter of ``schema_version`` (same type, same major)."""
    for speaks, factory in ADAPTERS.items():
        if compatible(schema_version, speaks):
            return factory()
    known = ", ".join(sorted(ADAPTERS))
    raise LookupError(f"no call adapter for schema {schema_version!r} (known: {known})")


# -- the instance ---------------------------------------------------------------------


class BatchAborted(Exception):
    """The batch cannot go on (agent unreachable, AI keeps dying, ...)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def start_error(ai: str, version: str, exc: Exception) -> BatchAborted:
    """The abort for an instance request that failed."""
    if isinstance(exc, AiUnavailableError):
        return BatchAborted(
            f"the agent at {exc.url} is not reachable: {exc.reason}", EXIT_UNREACHABLE
        )
    if isinstance(exc, ApiError):
        code = EXIT_UNREACHABLE if exc.status in (502, 503, 504) else EXIT_API_ERROR
        return BatchAborted(
            f"the agent could not start {ai} {version} (HTTP {exc.status}): {exc.message}", code
        )
    return BatchAborted(f"the agent's answer is unusable: {exc}", EXIT_API_ERROR)


class InstanceHolder:
    """The current instance, replaced when it dies; keeps it alive; terminates it."""

    def __init__(
        self,
        agent: AgentClient,
        ai: str,
        version: str,
        make_api: Callable[[str], ApiClient],
        *,
        max_replacements: int = 3,
        outage_wait: float = OUTAGE_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.agent = agent
        self.ai = ai
        self.version = version
        self.make_api = make_api
        self.max_replacements = max_replacements
        self.outage_wait = outage_wait
        self.clock = clock
        self.replacements = 0
        self.generation = 0
        self.instance: InstanceOut | None = None
        self.api: ApiClient | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.cancel = threading.Event()  # set when the batch stops: waits end
        self._heartbeat: threading.Thread | None = None
        self.terminated: list[str] = []

    def _request(self, *, patient: bool = False) -> None:
        """Ask the agent for an instance; ``patient``: wait out ``outage_wait`` seconds of an
        agent that is unreachable or answers 503 (Docker restarting behind it)."""
        deadline = self.clock() + (self.outage_wait if patient else 0.0)
        step = 1.0
        while True:
            try:
                instance = self.agent.request_instance(self.ai, self.version)
                break
            except (ApiError, AiUnavailableError) as exc:
                transient = isinstance(exc, AiUnavailableError) or exc.status == 503
                if not transient or self.clock() + step > deadline or self.cancel.wait(step):
                    raise start_error(self.ai, self.version, exc) from exc
                log.warning("the agent cannot start %s yet (%s); asking again", self.ai, exc)
                step = min(step * 2, MAX_WAIT_STEP)
        self.instance = instance
        self.api = self.make_api(instance.endpoint)
        self.generation += 1
        log.info(
            "instance %s of %s %s ready at %s (%s)",
            instance.id,
            self.ai,
            self.version,
            instance.endpoint,
            instance.schema_version,
        )

    def acquire(self) -> InstanceOut:
        """Request the first instance and start the keep-alive thread."""
        with self._lock:
            self._request()
            assert self.instance is not None
            instance = self.instance
        ttl = instance.idle_ttl
        interval = min(60.0, max(2.0, ttl / 3)) if ttl else 60.0
        self._heartbeat = threading.Thread(
            target=self._keep_alive, args=(interval,), name="worker-keepalive", daemon=True
        )
        self._heartbeat.start()
        return instance

    def current(self) -> tuple[int, InstanceOut, ApiClient]:
        """(generation, instance, API client of its endpoint)."""
        with self._lock:
            if self.instance is None or self.api is None:
                raise BatchAborted("no instance (the batch is over)", EXIT_API_ERROR)
            return self.generation, self.instance, self.api

    def replace(self, failed_generation: int, reason: str) -> None:
        """Replace the instance of ``failed_generation`` (no-op if already replaced)."""
        with self._lock:
            if failed_generation != self.generation:
                return
            if self.replacements >= self.max_replacements:
                raise BatchAborted(
                    f"the AI stayed unreachable after {self.replacements} new instances: {reason}",
                    EXIT_UNREACHABLE,
                )
            old = self.instance
            log.warning(
                "instance %s is unreachable (%s): asking the agent for a new one",
                old.id if old else "?",
                reason,
            )
            self.instance = self.api = None
            if old is not None:
                self._terminate(old.id)
            self.replacements += 1
            self._request(patient=True)

    def wait_out_outage(self, instance: InstanceOut) -> bool:
        """True when ``instance`` answers again after the platform was away.

        Called once the AI stopped answering. While the agent is unreachable too (dockerd
        restarting: its DNS and the agent come back, and with live-restore the AI is still
        there), wait up to ``outage_wait`` seconds for the AI to answer. False as soon as
        the agent answers (then it is the AI that is gone) or when the time is up.
        """
        deadline = self.clock() + self.outage_wait
        step = 1.0
        while True:
            if self.alive(instance):
                return True
            try:
                self.agent.get(instance.id)
            except AiUnavailableError:
                pass  # the agent is away too
            except ApiError as exc:
                if exc.status not in (502, 503, 504):
                    return False  # 404: the agent no longer has it
            else:
                return False  # the agent answers and has it: the AI itself is gone
            if self.clock() + step > deadline or self.cancel.wait(step):
                return False
            log.warning("instance %s and the agent are unreachable; waiting", instance.id)
            step = min(step * 2, MAX_WAIT_STEP)

    def alive(self, instance: InstanceOut) -> bool:
        """True when the instance's readiness endpoint answers 200 (within 5 s)."""
        with requests.Session() as session:
            session.trust_env = False
            try:
                url = instance.endpoint.rstrip("/") + instance.ready_path
                return session.get(url, timeout=ALIVE_TIMEOUT).status_code == 200
            except requests.RequestException:
                return False

    def _terminate(self, instance_id: str) -> None:
        try:
            self.agent.terminate(instance_id, missing_ok=True)
            self.terminated.append(instance_id)
        except (ApiError, AiUnavailableError) as exc:
            log.warning(
                "could not terminate instance %s (%s); the agent removes it once Docker "
                "answers, else its idle TTL reaps it",
                instance_id,
                exc,
            )

    def _keep_alive(self, interval: float) -> None:
        while not self._stop.wait(interval):
            instance = self.instance
            if instance is None:
                continue
            try:
                self.agent.get(instance.id)
            except (ApiError, AiUnavailableError) as exc:
                log.debug("keep-alive of %s failed: %s", instance.id, exc)

    def release(self) -> None:
        """Stop the keep-alive and terminate the current instance."""
        self._stop.set()
        with self._lock:
            instance, self.instance, self.api = self.instance, None, None
        if instance is not None:
            self._terminate(instance.id)


# -- progress -------------------------------------------------------------------------


class Progress:
    """A ``\\r`` progress line on a terminal, a log line every ~10% otherwise."""

    def __init__(self, total: int, stream: TextIO, *, tty: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._every = max(1, total // 10)

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        return (
            f"{self.done}/{self.total} documents ({self.failed} failed), "
            f"{rate:.1f} docs/s, {elapsed:.0f}s"
        )

    def update(self, ok: bool) -> None:
        """One more document done."""
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            if self.tty:
                width = 24
                filled = width * self.done // max(self.total, 1)
                bar = "#" * filled + "." * (width - filled)
                self.stream.write(f"\r[{bar}] {self._line()}")
                self.stream.flush()
            elif self.done % self._every == 0 or self.done == self.total:
                self.stream.write(f"worker: {self._line()}\n")
                self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()


# -- the batch ------------------------------------------------------------------------


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


def write_summary(path: Path, record: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``record`` as JSON (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


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
        """(outcome, instance fields); None when stopped. Replaces a dead instance."""
        while True:
            if self.stop.is_set():
                return None
            generation, instance, api = self.holder.current()
            adapter = adapter_for(instance.schema_version)
            meta = {
                "ai": instance.ai,
                "version": instance.version,
                "schema_version": instance.schema_version,
                "instance": instance.id,
            }
            try:
                return {"ok": True, "result": adapter.call(api, text, doc)}, meta
            except AiUnavailableError as exc:
                if self.stop.is_set():
                    return None
                if self.holder.alive(instance):  # a slow document, not a dead AI
                    return failure(f"the AI gave no usable answer: {exc.reason}"), meta
                if generation == self.holder.generation and self.holder.wait_out_outage(instance):
                    continue  # the platform was away, the AI is back: send it again
                self.holder.replace(generation, exc.reason)
            except ApiError as exc:
                return failure(exc.message, exc.status, exc.field), meta
            except ResponseInvalid as exc:
                return failure(str(exc)), meta

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


# -- the command ----------------------------------------------------------------------


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
    backoff: float = 0.5
    outage_wait: float = OUTAGE_WAIT


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
    )
    code = EXIT_OK
    with _interruptible(), ResultLog(options.output, set(records)) as results:
        try:
            instance = holder.acquire()
            summary.start_seconds = time.monotonic() - started
            adapter_for(instance.schema_version)  # fail before sending anything
            print(
                f"worker: {len(todo)} documents to {options.ai} {options.version} "
                f"(instance {instance.id} at {instance.endpoint}), {summary.skipped} already done",
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
            holder.release()
            summary.elapsed = time.monotonic() - started
            summary.replacements = holder.replacements
            summary.instances = holder.terminated
    if code == EXIT_OK and summary.failed:
        code = EXIT_PARTIAL
    return code, summary


def cmd_run(args: argparse.Namespace) -> int:
    """Handler of ``aidock worker run``."""
    if not args.input.is_dir():
        print(f"error: --input {args.input} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if not args.token_file:
        print(f"error: --token-file (or ${TOKEN_FILE_ENV}) is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = read_token(args.token_file)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = RunOptions(
        ai=args.ai,
        version=args.version,
        input=args.input,
        output=args.output,
        agent_url=args.agent_url,
        token=token,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        retry_failed=args.retry_failed,
        max_replacements=args.max_replacements,
        outage_wait=args.outage_wait,
    )
    try:
        code, summary = run_batch(options)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if summary.aborted:
        print(f"error: {summary.aborted}", file=sys.stderr)
    if summary.interrupted:
        print("worker: interrupted; rerun the same command to resume", file=sys.stderr)
    print(summary.text(options.output), flush=True)
    target = summary_path(options.output)
    try:
        write_summary(target, summary.record(options, code))
    except OSError as exc:
        print(f"worker: cannot write the summary {target}: {exc}", file=sys.stderr)
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` to the ``worker`` group."""
    parser = subparsers.add_parser(
        "run",
        help="send a directory of documents to an AI started by the agent",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 all documents ok, 1 some documents failed, 2 usage error, "
        "3 agent, registry or AI not reachable, 4 the agent refused, 130 interrupted. "
        "The summary, exit code included, is also written to <output>.summary.json.",
    )
    parser.add_argument("--ai", required=True, help="AI name in the agent's catalog, e.g. rag")
    parser.add_argument("--version", required=True, help="image tag, e.g. 0.1.0")
    parser.add_argument("--input", required=True, type=Path, metavar="DIR", help="documents")
    parser.add_argument("--output", required=True, type=Path, metavar="FILE", help="JSONL file")
    parser.add_argument(
        "--agent-url",
        default=os.environ.get(AGENT_URL_ENV, DEFAULT_AGENT_URL),
        help=f"agent base URL (default: ${AGENT_URL_ENV} or {DEFAULT_AGENT_URL})",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=os.environ.get(TOKEN_FILE_ENV) or None,
        help=f"file holding the agent's token (default: ${TOKEN_FILE_ENV})",
    )
    parser.add_argument(
        "--concurrency", type=int_range(1, 64), default=4, help="documents in flight (default 4)"
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=60.0, help="seconds per AI request (default 60)"
    )
    parser.add_argument(
        "--retries",
        type=int_range(0, 10),
        default=3,
        help="retries on connection errors and 502/503/504, with backoff (default 3)",
    )
    parser.add_argument(
        "--max-replacements",
        type=int_range(0, 20),
        default=3,
        help="new instances to ask for when the AI dies mid-batch (default 3)",
    )
    parser.add_argument(
        "--outage-wait",
        type=positive_float,
        default=OUTAGE_WAIT,
        help="seconds to wait mid-batch for an agent that is unreachable or answers 503, "
        f"as while dockerd restarts (default {OUTAGE_WAIT:g})",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="process again the documents whose line in the output says ok: false",
    )
    parser.set_defaults(handler=cmd_run)
