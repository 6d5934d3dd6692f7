"""The synthetic corpus: determinism, exact span offsets, valid IBANs, coverage, its tables."""

from __future__ import annotations

import random
import re
from collections import Counter
from difflib import SequenceMatcher

import pytest

from aidock.ais.corpus import generate, generate_one
from aidock.ais.corpus.builder import Builder
from aidock.ais.corpus.tables import common, language
from aidock.ais.document import CATEGORIES, FIELD_LABELS, Document, read_jsonl, write_jsonl
from aidock.ais.features import tokenize
from aidock.ais.formats import IBAN_BBAN, iban_is_valid

N = 300


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return generate(N, seed=7)


def test_same_seed_same_documents(docs: list[Document]) -> None:
    assert generate(N, seed=7) == docs


def test_other_seed_other_documents(docs: list[Document]) -> None:
    other = generate(N, seed=8)
    assert [d.text for d in other] != [d.text for d in docs]


def test_documents_do_not_depend_on_n(docs: list[Document]) -> None:
    assert generate(25, seed=7) == docs[:25]
    assert generate_one(7, 42) == docs[42]


def test_ids_unique(docs: list[Document]) -> None:
    assert len({d.id for d in docs}) == len(docs)


def test_span_offsets_match_text(docs: list[Document]) -> None:
    spans = 0
    for doc in docs:
        for span in doc.fields:
            assert doc.text[span.start : span.end] == span.text, (doc.id, span)
            assert span.label in FIELD_LABELS
            spans += 1
    assert spans > N  # invoices and reminders carry several fields each


def test_spans_sorted_and_disjoint(docs: list[Document]) -> None:
    for doc in docs:
        for left, right in zip(doc.fields, doc.fields[1:], strict=False):
            assert left.end <= right.start, doc.id


def test_spans_align_with_token_boundaries(docs: list[Document]) -> None:
    for doc in docs:
        tokens = tokenize(doc.text)
        starts, ends = {t.start for t in tokens}, {t.end for t in tokens}
        for span in doc.fields:
            assert span.start in starts and span.end in ends, (doc.id, span)


def test_fields_only_on_invoices_and_reminders(docs: list[Document]) -> None:
    for doc in docs:
        if doc.category in ("invoice", "reminder"):
            labels = Counter(s.label for s in doc.fields)
            assert all(count == 1 for count in labels.values()), doc.id
        else:
            assert doc.fields == (), doc.id


def test_full_letters_have_core_fields(docs: list[Document]) -> None:
    complete = [d for d in docs if d.category in ("invoice", "reminder")]
    with_all = [
        d for d in complete
        if {"invoice_number", "invoice_date", "total_amount", "iban"} <= {s.label for s in d.fields}
    ]  # fmt: skip
    assert len(with_all) >= 0.85 * len(complete)  # the rest are page excerpts


def test_all_categories_and_labels_occur(docs: list[Document]) -> None:
    assert set(Counter(d.category for d in docs)) == set(CATEGORIES)
    assert {s.label for d in docs for s in d.fields} == set(FIELD_LABELS)


def test_distractors_present(docs: list[Document]) -> None:
    """Documents hold more dates/amounts/IBAN-likes than labelled ones (non-trivial task)."""
    invoices = [d for d in docs if d.category == "invoice"]
    assert (
        sum("ZZZ" in d.text or "debited" in d.text or "abgebucht" in d.text for d in invoices) > 0
    )
    assert any(
        "IBAN" in d.text for d in docs if d.category in ("claim", "termination", "statement")
    )


def test_labelled_ibans_have_valid_checksums(docs: list[Document]) -> None:
    ibans = [s.text for d in docs for s in d.fields if s.label == "iban"]
    assert ibans
    assert all(iban_is_valid(iban) for iban in ibans)


def test_jsonl_roundtrip(docs: list[Document], tmp_path) -> None:
    path = write_jsonl(docs[:20], tmp_path / "corpus.jsonl")
    assert read_jsonl(path) == docs[:20]


def test_forced_category_and_bad_input() -> None:
    assert generate_one(1, 3, category="statement").category == "statement"
    with pytest.raises(ValueError, match="unknown category"):
        generate_one(1, 3, category="poem")
    with pytest.raises(ValueError):
        generate(-1)
    assert generate(0) == []


# ------------------------------------------------------------- hard for a categorizer


@pytest.fixture(scope="module")
def many() -> list[Document]:
    return generate(1000, seed=11)


def _of(docs: list[Document], category: str) -> list[str]:
    return [d.text for d in docs if d.category == category]


def _share(texts: list[str], *needles: str) -> float:
    return sum(any(n in t for n in needles) for t in texts) / len(texts)


def test_categories_quote_each_other(many: list[Document]) -> None:
    """Look-alike content: each category borrows another's words, often enough to matter."""
    quoted_invoice = ("Copy of invoice", "INVOICE (copy)", "Rechnungskopie", "RECHNUNG (Kopie)")
    assert _share(_of(many, "reminder"), *quoted_invoice) > 0.1
    assert _share(_of(many, "claim"), "invoice", "Rechnung") > 0.2
    assert _share(_of(many, "termination"), "Final statement", "Abschlussrechnung") > 0.05
    assert _share(_of(many, "termination"), "Closing balance", "Neuer Kontostand") > 0.05
    assert _share(_of(many, "invoice"), "termination", "Kündigung", "policy", "Versicherung") > 0.1
    assert _share(_of(many, "statement"), "Invoice", "Rechnung") > 0.2


def test_short_notes_in_every_category(many: list[Document]) -> None:
    for category in CATEGORIES:
        short = [t for t in _of(many, category) if len(t) < 400]
        assert len(short) >= 0.05 * len(_of(many, category)), category


def test_weak_cue_bodies_are_shared_across_categories(many: list[Document]) -> None:
    """The same note body occurs under two or three categories: no word tells them apart."""
    billing = ("regarding document ", "as discussed, ", "zu Beleg ", "wie besprochen bitten")
    account = ("regarding ", "please see the enclosed document about", "zu Vorgang ", "anbei das")
    for needles, categories in (
        (billing, ("invoice", "reminder")),
        (account[1:], ("claim", "termination", "statement")),
    ):
        holders = {c for c in categories if _share(_of(many, c), *needles) > 0}
        assert len(holders) >= 2, (needles, holders)


def test_boilerplate_is_shared_by_all_categories(many: list[Document]) -> None:
    generic = ("Please keep this document", "Bitte bewahren Sie dieses Dokument",
               "Bei Fragen stehen wir", "do not hesitate to contact us")  # fmt: skip
    for category in CATEGORIES:
        assert _share(_of(many, category), *generic) > 0.02, category  # company letters


def test_label_slips_are_rare_and_between_look_alikes(many: list[Document]) -> None:
    """A slipped document reads like another category: regenerating it forced to its label
    gives another text. Slips stay within invoice/reminder or claim/termination/statement."""
    slipped = [(i, d) for i, d in enumerate(many) if generate_one(11, i, category=d.category) != d]
    assert 0 < len(slipped) <= 0.04 * len(many)
    billing = {"invoice", "reminder"}
    for i, doc in slipped:
        template = next(
            c
            for c in CATEGORIES
            if c != doc.category and generate_one(11, i, category=c).text == doc.text
        )
        assert (template in billing) == (doc.category in billing), (doc.id, template)


def test_ocr_noise_never_touches_labelled_values() -> None:
    b = Builder(random.Random(3), noise=1.0)
    b.line("Invoice number: ", ("invoice_number", "INV-2024-00017"), " thank you kindly")
    b.line("Total amount due ", ("total_amount", "1.234,56"))
    text = b.text()
    assert "Invoice number" not in text and "thank you kindly" not in text  # every word noised
    for span in b.spans:
        assert text[span.start : span.end] == span.text
    assert [s.text for s in b.spans] == ["INV-2024-00017", "1.234,56"]


def test_ocr_variants_of_common_words_occur(many: list[Document]) -> None:
    """Poor scans garble words: near misses of frequent template words show up."""
    common = ("Rechnung", "Invoice", "Betrag", "amount", "Konto", "account", "regards", "Grüße")

    def garbled(word: str) -> bool:
        return any(
            word != known
            and word[0] == known[0]
            and word[-1] == known[-1]
            and abs(len(word) - len(known)) <= 1
            and SequenceMatcher(None, word, known).ratio() >= 0.8
            for known in common
        )

    noisy = [d for d in many if any(garbled(w) for w in re.findall(r"[^\W\d_]+", d.text))]
    assert len(noisy) >= 0.03 * len(many)


# ------------------------------------------------------------------------------ tables


def test_languages_have_the_same_phrases() -> None:
    """A template looks a phrase up by key: every language must have every key."""
    en, de = language("en"), language("de")
    for table in ("choose", "text", "note_subjects", "note_bodies"):
        assert set(getattr(en, table)) == set(getattr(de, table)), table
    assert len(en.months) == len(de.months) == 12


def test_countries_name_known_languages_and_ibans() -> None:
    countries = common().countries
    assert {c.code for c in countries} <= set(IBAN_BBAN)
    for country in countries:
        assert language(country.language).code == country.language
        assert country.currency in common().currency_symbols
