"""Document handling: loading a directory, sentence splitting and passage chunking.

Standard library only, so the CLI can use it without Flask or Chroma.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

DOC_SUFFIXES = (".txt", ".md")
# A longer section is cut: 400 beat 300 and 600 on bench/rag_questions.yaml (bench/rag.py).
MAX_PASSAGE_CHARS = 400
MAX_HEADING_CHARS = 120

_SENT_BREAK = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d{1,3}[.)]|[a-z][.)])\s+")
_ENUMERATOR = re.compile(r"^(?:\d{1,3}(?:\.\d{1,3})*|[a-zA-Z]|[ivxIVX]{1,4})[.)]$")
_MD_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*$")
_BULLET_ITEM = re.compile(r"^\s*[-*\u2022]\s+")
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
    """Sentences of a passage made by ``split_passages`` (one per line)."""
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


@dataclass(frozen=True)
class Passage:
    """A retrieval unit: ``section`` says where it sits ("Title > 3. Authority limits"),
    ``text`` is its sentences, one per line (see ``passage_sentences``)."""

    section: str
    text: str

    @property
    def indexed_text(self) -> str:
        """What is embedded and searched: the section path, then the text."""
        return f"{self.section}\n{self.text}" if self.section else self.text


def _heading_text(line: str) -> str | None:
    """The heading of a Markdown ``#`` line, else None."""
    match = _MD_HEADING.match(line)
    return match.group(1).strip() if match else None


def _sections(text: str) -> tuple[str, list[tuple[str, list[str]]]]:
    """(document title, [(section heading, paragraphs)]) from headings in the text.

    Headings are Markdown ``#`` lines, numbered section lines ("3. Authority limits") and
    short unpunctuated lines that stand alone or start a paragraph (``_is_heading``). The
    first heading of the document, when it opens the text, is its title.
    """
    title = ""
    sections: list[tuple[str, list[str]]] = [("", [])]
    paragraphs = [p for p in re.split(r"\n\s*\n", text.replace("\r\n", "\n")) if p.strip()]
    for index, para in enumerate(paragraphs):
        lines = [line.strip() for line in para.split("\n") if line.strip()]
        heading = _heading_text(lines[0])
        if heading is None and not _BULLET_ITEM.match(lines[0]):
            following = lines[1] if len(lines) > 1 else "X"
            if _is_heading(lines[0], following) and len(lines[0]) <= MAX_HEADING_CHARS:
                heading = lines[0]
        if heading is None:
            sections[-1][1].append("\n".join(lines))
            continue
        rest = lines[1:]
        if index == 0 and not title:
            title = heading
            if rest:
                sections[-1][1].append("\n".join(rest))
            continue
        sections.append((heading, ["\n".join(rest)] if rest else []))
    return title, [(h, paras) for h, paras in sections if paras]


def split_passages(text: str, max_chars: int = MAX_PASSAGE_CHARS) -> list[Passage]:
    """Passages that follow the document's own structure: one per section, a long section
    cut between its paragraphs or list items (and between sentences only when one of those
    is itself longer than ``max_chars``). No overlap: a sentence lives in one passage.
    """
    title, sections = _sections(text)
    out: list[Passage] = []
    for heading, paragraphs in sections:
        section = " > ".join(part for part in (title, heading) if part)
        units: list[list[str]] = []
        for block in _blocks("\n\n".join(paragraphs)):
            sentences = [p for s in split_sentences(block) for p in _split_long(s, max_chars)]
            units.append(sentences)
        current: list[str] = []
        size = 0
        for sentences in units:
            for sentence in sentences if sum(map(len, sentences)) > max_chars else [None]:
                piece = sentences if sentence is None else [sentence]
                extra = sum(len(s) + 1 for s in piece)
                if current and size + extra > max_chars:
                    out.append(Passage(section, "\n".join(current)))
                    current, size = [], 0
                current.extend(piece)
                size += extra
        if current:
            out.append(Passage(section, "\n".join(current)))
    if not out and text.strip():
        # The whole text is one heading-like line ("Hello", "0"): it is the passage.
        out = [Passage("", part) for part in _split_long(" ".join(text.split()), max_chars)]
    return out


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
