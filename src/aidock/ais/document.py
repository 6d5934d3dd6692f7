"""The core types the AIs read and write: a document, its category and its labelled spans.

The served models import these (and nothing of the corpus generator); ``aidock.ais.corpus``
generates documents of these types. ``write_jsonl``/``read_jsonl`` store them as JSON lines.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CATEGORIES: tuple[str, ...] = ("invoice", "reminder", "claim", "termination", "statement")
FIELD_LABELS: tuple[str, ...] = (
    "invoice_number",
    "invoice_date",
    "due_date",
    "total_amount",
    "iban",
)


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled character range ``text[start:end]``; ``confidence`` is 1.0 for gold."""

    label: str
    start: int
    end: int
    text: str
    confidence: float = 1.0

    @property
    def key(self) -> tuple[str, int, int]:
        """What span-level exact matching compares: label and offsets."""
        return (self.label, self.start, self.end)


@dataclass(frozen=True, slots=True)
class Document:
    """A document: its text, category and gold field spans."""

    id: str
    text: str
    category: str
    fields: tuple[Span, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (spans as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Inverse of ``to_dict``."""
        spans = tuple(Span(**s) for s in data.get("fields", ()))
        return cls(id=data["id"], text=data["text"], category=data["category"], fields=spans)


def write_jsonl(docs: Iterable[Document], path: str | Path) -> Path:
    """Write documents as JSON lines (UTF-8)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as out:
        for doc in docs:
            out.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[Document]:
    """Read documents written by ``write_jsonl``."""
    with Path(path).open(encoding="utf-8") as src:
        return [Document.from_dict(json.loads(line)) for line in src if line.strip()]
