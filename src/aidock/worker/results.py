"""The files a batch writes: the JSONL results log and the summary beside it.

Each line of the log is flushed and fsync'ed under a lock, so a crash loses at most the
line being written; ``load_results`` cuts a truncated last line off on the next run. A file
that is rewritten (the log by ``--retry-failed``, the summary) is replaced atomically.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

log = logging.getLogger(__name__)

SUMMARY_SUFFIX = ".summary.json"


class ResultsError(Exception):
    """The output file cannot be used (unreadable or a corrupt line)."""


def summary_path(output: Path) -> Path:
    """Where the summary of a run writing ``output`` goes: ``<output>.summary.json``."""
    return output.with_name(output.name + SUMMARY_SUFFIX)


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


def write_summary(path: Path, record: Mapping[str, Any]) -> None:
    """Replace ``path`` atomically with ``record`` as JSON (a reader never sees half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _replace(path, json.dumps(record, indent=2, ensure_ascii=False) + "\n")


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
