"""The documents of a batch: the files of the input directory, read as UTF-8 text."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from aidock.worker.results import summary_path

MAX_DOCUMENT_BYTES = 5_000_000


@dataclass(frozen=True)
class Document:
    """A file of the input directory; ``relpath`` (POSIX) is its key in the output."""

    relpath: str
    path: Path


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
