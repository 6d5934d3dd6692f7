"""Document loading, sentence splitting and chunking; the shipped document set."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from aidock.rag.documents import (
    MAX_PASSAGE_CHARS,
    chunk_text,
    document_id,
    load_directory,
    passage_sentences,
    split_sentences,
)

DOCS_DIR = Path(__file__).resolve().parents[2] / "data" / "docs"


def test_split_sentences_keeps_abbreviations_and_numbers() -> None:
    text = (
        "Claims, e.g. motor claims, are paid within 5 days. The limit is EUR 2.5 million! "
        "Is it final? Yes."
    )
    assert split_sentences(text) == [
        "Claims, e.g. motor claims, are paid within 5 days.",
        "The limit is EUR 2.5 million!",
        "Is it final?",
        "Yes.",
    ]


def test_split_sentences_headings_bullets_and_wrapped_lines() -> None:
    text = "Retention\n\nInvoices are kept\nfor ten years.\n- Letters: six years.\n- Logs: 90 days."
    assert split_sentences(text) == [
        "Retention",
        "Invoices are kept for ten years.",
        "- Letters: six years.",
        "- Logs: 90 days.",
    ]


def test_numbered_heading_stays_together() -> None:
    assert split_sentences("3. Authority limits\n\nHandlers settle claims.") == [
        "3. Authority limits",
        "Handlers settle claims.",
    ]


def test_chunks_are_bounded_and_overlap() -> None:
    sentences = [f"Sentence {i} is about item {i} of the list." for i in range(23)]
    passages = chunk_text(" ".join(sentences))
    assert len(passages) > 4
    for passage in passages:
        assert len(passage) <= MAX_PASSAGE_CHARS
        assert 1 <= len(passage_sentences(passage)) <= 5
    for first, second in itertools.pairwise(passages):
        assert passage_sentences(first)[-1] == passage_sentences(second)[0]
    covered = {s for p in passages for s in passage_sentences(p)}
    assert covered == set(sentences)


def test_long_sentence_is_split() -> None:
    passages = chunk_text("word " * 500)
    assert len(passages) >= 3
    assert all(len(p) <= MAX_PASSAGE_CHARS for p in passages)


def test_document_id() -> None:
    assert document_id("text", "given") == "given"
    digest = document_id("text")
    assert digest.startswith("sha256:") and len(digest) == 7 + 64
    assert digest == document_id("text") != document_id("other")


def test_load_directory(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "a.txt").write_text("Alpha.")
    (tmp_path / "sub" / "b.md").write_text("# Beta\n\nBeta text.")
    (tmp_path / "empty.txt").write_text("  \n")
    (tmp_path / "image.png").write_bytes(b"\x89PNG")
    (tmp_path / ".hidden.txt").write_text("secret")
    docs = load_directory(tmp_path)
    assert docs == [
        {"id": "a.txt", "source": "a.txt", "text": "Alpha."},
        {"id": "sub/b.md", "source": "b.md", "text": "# Beta\n\nBeta text."},
    ]
    with pytest.raises(NotADirectoryError):
        load_directory(tmp_path / "a.txt")


def test_shipped_document_set() -> None:
    files = sorted(DOCS_DIR.glob("*.txt"))
    assert 8 <= len(files) <= 12
    for path in files:
        assert 1024 <= path.stat().st_size <= 4096, path.name
    docs = load_directory(DOCS_DIR)
    assert len(docs) == len(files)
    assert all(len(chunk_text(d["text"])) >= 2 for d in docs)
