"""Document handling: loading a directory, sentence splitting and passage chunking.

Standard library only, so the CLI can use it without Flask or Chroma.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import TypedDict

DOC_SUFFIXES = (".txt", ".md")
MAX_PASSAGE_CHARS = 800
MAX_PASSAGE_SENTENCES = 5
OVERLAP_SENTENCES = 1

_SENT_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)]|[a-z][.)])\s+")
_ENUMERATOR = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*|[a-zA-Z]|[ivxIVX]{1,4})[.)]$")
_ABBREVIATIONS = frozenset(
    "e.g. i.e. etc. approx. no. nos. art. sec. para. dr. mr. mrs. ms. vs. cf. incl. fig.".split()  # noqa: SIM905
)


class IngestDocument(TypedDict, total=False):
    """One document as sent to ``POST /v1/collections/<name>/documents``."""

    id: str
    text: str
    source: str
    metadata: dict[str, str | int | float | bool]


def document_id(text: str, given: str | None = None) -> str:
    """The given id, else ``sha256:<hex>`` of the text."""
    if given:
        return given
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def _is_heading(line: str, next_line: str) -> bool:
    """A short unpunctuated line followed by one that does not continue its sentence."""
    return (
        len(line.split()) <= 10
        and not line.endswith((".", ":", ",", ";", "!", "?", "-"))
        and not next_line[:1].islower()
    )


def _blocks(text: str) -> list[str]:
    """Paragraphs (blank-line separated); list items and headings stand alone."""
    blocks: list[str] = []
    for para in re.split(r"\n\s*\n", text.replace("\r\n", "\n")):
        lines = [line.strip() for line in para.split("\n") if line.strip()]
        if len(lines) > 1 and _is_heading(lines[0], lines[1]):
            blocks.append(lines.pop(0))
        current: list[str] = []
        for line in lines:
            if current and _BULLET.match(line):
                blocks.append(" ".join(current))
                current = []
            current.append(line)
        if current:
            blocks.append(" ".join(current))
    return [b for b in (re.sub(r"\s+", " ", b).strip() for b in blocks) if b]


def split_sentences(text: str) -> list[str]:
    """Split text into sentences, keeping abbreviations and lowercase continuations intact."""
    sentences: list[str] = []
    for block in _blocks(text):
        pieces = [p.strip() for p in _SENT_BREAK.split(block) if p.strip()]
        merged: list[str] = []
        for piece in pieces:
            if merged:
                last_word = merged[-1].rsplit(" ", 1)[-1].lower()
                enumerator = _ENUMERATOR.match(merged[-1]) is not None
                if piece[0].islower() or last_word in _ABBREVIATIONS or enumerator:
                    merged[-1] = f"{merged[-1]} {piece}"
                    continue
            merged.append(piece)
        sentences.extend(merged)
    return sentences


def passage_sentences(passage: str) -> list[str]:
    """Sentences of a passage made by ``chunk_text`` (one per line)."""
    return [s for line in passage.split("\n") for s in split_sentences(line)]


def _split_long(sentence: str, max_chars: int) -> list[str]:
    if len(sentence) <= max_chars:
        return [sentence]
    parts: list[str] = []
    current = ""
    for word in sentence.split():
        while len(word) > max_chars:  # a single huge token
            if current:
                parts.append(current)
                current = ""
            parts.append(word[:max_chars])
            word = word[max_chars:]
        if current and len(current) + 1 + len(word) > max_chars:
            parts.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        parts.append(current)
    return parts


def chunk_text(
    text: str,
    max_chars: int = MAX_PASSAGE_CHARS,
    max_sentences: int = MAX_PASSAGE_SENTENCES,
    overlap: int = OVERLAP_SENTENCES,
) -> list[str]:
    """Passages of up to ``max_sentences`` sentences / ``max_chars`` characters.

    Sentences are joined by newlines (see ``passage_sentences``); consecutive passages
    share ``overlap`` sentences.
    """
    sentences = [p for s in split_sentences(text) for p in _split_long(s, max_chars)]
    passages: list[str] = []
    start = 0
    while start < len(sentences):
        end = start
        size = 0
        while end < len(sentences) and end - start < max_sentences:
            extra = len(sentences[end]) + (1 if end > start else 0)
            if end > start and size + extra > max_chars:
                break
            size += extra
            end += 1
        passages.append("\n".join(sentences[start:end]))
        if end >= len(sentences):
            break
        start = max(end - overlap, start + 1)
    return passages


def load_directory(directory: str | Path) -> list[IngestDocument]:
    """Read the ``.txt``/``.md`` files under ``directory`` (recursively, sorted).

    Each becomes ``{"id": <relative path>, "source": <file name>, "text": ...}``; empty
    files and hidden paths are skipped.
    """
    root = Path(directory)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    docs: list[IngestDocument] = []
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root)
        if any(part.startswith(".") for part in rel.parts):
            continue
        if not path.is_file() or path.suffix.lower() not in DOC_SUFFIXES:
            continue
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if text:
            docs.append({"id": rel.as_posix(), "source": path.name, "text": text})
    return docs
