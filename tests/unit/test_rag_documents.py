"""Document loading, sentence splitting, structural passages; the shipped document set."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidock.rag.documents import (
    MAX_PASSAGE_CHARS,
    Passage,
    document_id,
    load_directory,
    passage_sentences,
    split_passages,
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


POLICY = """Claims Handling Policy
Northbridge Mutual. Version 4.2.

1. Scope

This policy applies to all claims. Life claims follow the manual.

2. Authority limits

Handlers settle claims up to EUR 25,000.
Larger claims need a Senior Adjuster.

Retention periods

- Invoices: ten years.
- Logs: 90 days.
"""


def test_passages_follow_headings_and_numbered_sections() -> None:
    assert split_passages(POLICY) == [
        Passage("Claims Handling Policy", "Northbridge Mutual.\nVersion 4.2."),
        Passage(
            "Claims Handling Policy > 1. Scope",
            "This policy applies to all claims.\nLife claims follow the manual.",
        ),
        Passage(
            "Claims Handling Policy > 2. Authority limits",
            "Handlers settle claims up to EUR 25,000.\nLarger claims need a Senior Adjuster.",
        ),
        Passage(
            "Claims Handling Policy > Retention periods",
            "- Invoices: ten years.\n- Logs: 90 days.",
        ),
    ]
    assert split_passages(POLICY)[2].indexed_text.startswith("Claims Handling Policy > 2.")


def test_markdown_headings() -> None:
    passages = split_passages("# Handbook\n\n## Leave\n\nTake leave.\n\n## Pay\n\nPaid monthly.")
    assert [(p.section, p.text) for p in passages] == [
        ("Handbook > Leave", "Take leave."),
        ("Handbook > Pay", "Paid monthly."),
    ]


def test_a_long_section_is_cut_between_items_without_overlap() -> None:
    items = "\n".join(f"- Item {i} is kept for {i} years under rule {i}." for i in range(40))
    passages = split_passages(f"Policy\n\nRetention\n\n{items}")
    assert len(passages) > 2
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)
    assert {p.section for p in passages} == {"Policy > Retention"}
    sentences = [s for p in passages for s in passage_sentences(p.text)]
    assert sentences == [f"- Item {i} is kept for {i} years under rule {i}." for i in range(40)]


def test_text_without_structure_still_splits() -> None:
    sentences = [f"Sentence {i} is about item {i} of the list." for i in range(23)]
    passages = split_passages(" ".join(sentences))
    assert len(passages) > 1
    assert all(p.section == "" and len(p.text) <= MAX_PASSAGE_CHARS for p in passages)
    assert [s for p in passages for s in passage_sentences(p.text)] == sentences


def test_long_sentence_is_split() -> None:
    passages = split_passages("word " * 500)
    assert len(passages) >= 3
    assert all(len(p.text) <= MAX_PASSAGE_CHARS for p in passages)


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
    for doc in docs:
        passages = split_passages(doc["text"])
        assert len(passages) >= 5, doc["source"]
        # every section of the shipped documents is found: no passage mixes two headings
        assert all(p.section.count(" > ") == 1 for p in passages[1:]), doc["source"]
