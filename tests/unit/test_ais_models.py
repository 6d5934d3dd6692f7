"""Extraction and categorization AIs: quality vs baselines, persistence, robustness.

The models are trained once per session on a small corpus (seed 101) and scored on a
held-out corpus from another seed (202). Thresholds sit well below what was measured
on corpus v2 (extraction micro-F1 0.935-0.977, regex baseline 0.34-0.41; categorization
accuracy 0.935-0.96, macro-F1 0.933-0.963, keyword rules 0.745-0.79, majority baseline
0.25-0.33, over four seed pairs) and assert margins, never exact scores. Corpus v2 makes
categories overlap on purpose, so the categorizer is also held below a perfect score:
a benchmark at 1.0 would measure nothing.
"""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("joblib")

from aidock.ais.base import ArtifactError, NotTrainedError
from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import generate
from aidock.ais.document import CATEGORIES, FIELD_LABELS, Document, Span
from aidock.ais.extraction import ExtractionAI
from aidock.ais.metrics import (
    KeywordBaseline,
    MajorityBaseline,
    baseline_extract,
    classification_scores,
    confusion_matrix,
    span_scores,
)

N_TRAIN, N_TEST = 400, 200
ODD_TEXTS = [
    "",
    " ",
    "\n\n\t",
    "x",
    "12",
    "€€€ %%% :: ---",
    "\x00\x01\x02 binary \ufffd",
    "Rechnung 📄 Nr. ١٢٣ الفاتورة 2024-13-45 99/99/9999",
    "Total: 1.234,56 EUR\nIBAN: DE89 3704 0044 0532 0130 00",
    "INV-1 " * 2000,
    "a" * 50_000,
]


@pytest.fixture(scope="session")
def train_docs() -> list[Document]:
    return generate(N_TRAIN, seed=101)


@pytest.fixture(scope="session")
def test_docs() -> list[Document]:
    return generate(N_TEST, seed=202)


@pytest.fixture(scope="session")
def extractor(train_docs: list[Document]) -> ExtractionAI:
    return ExtractionAI().train(train_docs)


@pytest.fixture(scope="session")
def categorizer(train_docs: list[Document]) -> CategorizationAI:
    return CategorizationAI().train(train_docs)


# ------------------------------------------------------------------------ quality


def test_extraction_beats_baseline(extractor: ExtractionAI, test_docs: list[Document]) -> None:
    model = extractor.evaluate(test_docs)
    baseline = span_scores(
        [d.fields for d in test_docs], [baseline_extract(d.text) for d in test_docs]
    )
    assert model["micro"]["f1"] >= 0.9
    assert model["micro"]["f1"] >= baseline["micro"]["f1"] + 0.4
    for label in FIELD_LABELS:
        assert model["per_label"][label]["support"] > 0
        assert model["per_label"][label]["f1"] >= 0.8, label
        assert model["per_label"][label]["f1"] > baseline["per_label"][label]["f1"], label


def test_categorization_beats_baselines(
    categorizer: CategorizationAI, train_docs: list[Document], test_docs: list[Document]
) -> None:
    model = categorizer.evaluate(test_docs)
    train_categories = [d.category for d in train_docs]
    gold = [d.category for d in test_docs]
    majority = MajorityBaseline().fit(train_categories)
    keyword = KeywordBaseline().fit(train_categories)
    majority_scores = classification_scores(gold, [majority.predict(d.text) for d in test_docs])
    keyword_scores = classification_scores(gold, [keyword.predict(d.text) for d in test_docs])
    assert model["accuracy"] >= 0.9
    assert model["macro_f1"] >= 0.88
    assert model["accuracy"] >= majority_scores["accuracy"] + 0.5
    assert model["accuracy"] >= keyword_scores["accuracy"] + 0.08
    assert keyword_scores["accuracy"] >= majority_scores["accuracy"] + 0.2  # rules do something
    assert model["accuracy"] <= 0.99  # the corpus is not trivially separable


def test_extraction_output_is_well_formed(
    extractor: ExtractionAI, test_docs: list[Document]
) -> None:
    for doc in test_docs[:40]:
        spans = extractor.predict(doc.text)
        assert [s.start for s in spans] == sorted(s.start for s in spans)
        assert len({s.label for s in spans}) == len(spans)  # single-valued fields
        for span in spans:
            assert span.label in FIELD_LABELS
            assert doc.text[span.start : span.end] == span.text
            assert 0.0 < span.confidence <= 1.0


def test_categorization_output_is_well_formed(
    categorizer: CategorizationAI, test_docs: list[Document]
) -> None:
    answer = categorizer.predict(test_docs[0].text)
    assert set(answer["scores"]) == set(CATEGORIES)
    assert answer["category"] == max(answer["scores"], key=answer["scores"].__getitem__)
    assert answer["confidence"] == answer["scores"][answer["category"]]
    assert sum(answer["scores"].values()) == pytest.approx(1.0, abs=1e-4)


# -------------------------------------------------------------------- persistence


def test_extraction_save_load_roundtrip(
    extractor: ExtractionAI, test_docs: list[Document], tmp_path: Path
) -> None:
    path = tmp_path / "extraction.joblib"
    digest = extractor.save(path)
    loaded = ExtractionAI.load(path, sha256=digest)
    texts = [d.text for d in test_docs[:60]]
    assert loaded.predict_many(texts) == extractor.predict_many(texts)
    assert loaded.describe() == extractor.describe()
    assert loaded.describe()["schema_version"] == "extraction/v1"


def test_categorization_save_load_roundtrip(
    categorizer: CategorizationAI, test_docs: list[Document], tmp_path: Path
) -> None:
    path = tmp_path / "categorization.joblib"
    categorizer.save(path)
    loaded = CategorizationAI.load(path)
    texts = [d.text for d in test_docs[:60]]
    assert loaded.predict_many(texts) == categorizer.predict_many(texts)
    assert loaded.version == categorizer.version


def test_load_refuses_other_ai_and_tampering(categorizer: CategorizationAI, tmp_path: Path) -> None:
    path = tmp_path / "categorization.joblib"
    digest = categorizer.save(path)
    with pytest.raises(ArtifactError, match="name"):
        ExtractionAI.load(path)
    with pytest.raises(ArtifactError, match="SHA-256"):
        CategorizationAI.load(path, sha256="0" * 64)
    assert CategorizationAI.load(path, sha256=digest.upper()).is_trained


def test_untrained_ais_refuse(tmp_path: Path) -> None:
    for ai in (ExtractionAI(), CategorizationAI()):
        assert not ai.is_trained
        with pytest.raises(NotTrainedError):
            ai.predict("Invoice 1")
        with pytest.raises(NotTrainedError):
            ai.save(tmp_path / "never.joblib")
    assert not (tmp_path / "never.joblib").exists()
    with pytest.raises(ValueError, match="empty"):
        ExtractionAI().train([])


# --------------------------------------------------------------------- robustness


@pytest.mark.parametrize("text", ODD_TEXTS, ids=range(len(ODD_TEXTS)))
def test_odd_texts_do_not_crash(
    extractor: ExtractionAI, categorizer: CategorizationAI, text: str
) -> None:
    for span in extractor.predict(text):
        assert text[span.start : span.end] == span.text
    answer = categorizer.predict(text)
    assert answer["category"] in CATEGORIES


def test_predict_many_matches_predict(extractor: ExtractionAI) -> None:
    texts = ["", "Invoice no. 4711 dated 12.03.2024, total EUR 99.00", "", "nothing"]
    assert extractor.predict_many(texts) == [extractor.predict(t) for t in texts]
    assert extractor.predict_many([]) == []


# ------------------------------------------------------------------------ metrics


def test_span_scores_exact_match() -> None:
    gold = [[Span("iban", 0, 4, "abcd"), Span("invoice_date", 10, 12, "xy")], []]
    pred = [
        [Span("iban", 0, 4, "abcd", 0.9), Span("invoice_date", 10, 13, "xyz")],
        [Span("total_amount", 1, 2, "1")],
    ]
    scores = span_scores(gold, pred)
    assert scores["per_label"]["iban"]["f1"] == 1.0
    assert scores["per_label"]["invoice_date"] == pytest.approx(
        {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 1, "fn": 1, "support": 1}
    )
    assert scores["micro"]["tp"] == 1
    assert scores["micro"]["precision"] == pytest.approx(1 / 3)
    assert scores["micro"]["recall"] == pytest.approx(1 / 2)
    with pytest.raises(ValueError):
        span_scores(gold, pred[:1])


def test_classification_scores() -> None:
    scores = classification_scores(["invoice", "claim", "claim"], ["invoice", "claim", "invoice"])
    assert scores["accuracy"] == pytest.approx(2 / 3)
    assert scores["per_label"]["claim"]["recall"] == pytest.approx(0.5)
    assert scores["per_label"]["invoice"]["precision"] == pytest.approx(0.5)


def test_confusion_matrix_counts_answers_per_gold_category() -> None:
    matrix = confusion_matrix(
        ["invoice", "invoice", "claim", "statement"], ["invoice", "reminder", "claim", "poem"]
    )
    assert set(matrix) == set(CATEGORIES)
    assert matrix["invoice"] == {**dict.fromkeys(CATEGORIES, 0), "invoice": 1, "reminder": 1}
    assert matrix["claim"]["claim"] == 1
    assert sum(matrix["statement"].values()) == 0  # an unknown answer is not counted
    with pytest.raises(ValueError):
        confusion_matrix(["invoice"], [])


def test_scores_of_nothing_are_zeros() -> None:
    """sklearn.metrics refuses empty inputs; the scores of nothing stay zeros as before."""
    zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0, "support": 0}
    assert span_scores([[], []], [[], []]) == {
        "per_label": dict.fromkeys(FIELD_LABELS, zero),
        "micro": zero,
        "macro_f1": 0.0,
    }
    assert classification_scores([], []) == {
        "accuracy": 0.0,
        "macro_f1": 0.0,
        "per_label": dict.fromkeys(CATEGORIES, zero),
    }
    nothing = {g: dict.fromkeys(CATEGORIES, 0) for g in CATEGORIES}
    assert confusion_matrix([], []) == confusion_matrix(["poem"], ["invoice"]) == nothing


def test_f1_is_the_harmonic_mean_of_precision_and_recall_as_published() -> None:
    # 2PR/(P+R) = 0.7499999999999999 here; sklearn's 2tp/(2tp+fp+fn) would say 0.75.
    gold, predicted = ["a", "a", "a", "b", "b"], ["a", "a", "a", "a", "a"]
    scores = classification_scores(gold, predicted, ["a"])
    assert scores["per_label"]["a"]["f1"] == 2 * 0.6 * 1.0 / 1.6 == 0.7499999999999999


def test_keyword_baseline_rules_in_order() -> None:
    rules = KeywordBaseline().fit(["invoice", "invoice", "claim"])
    assert rules.predict("Zahlungserinnerung zu Rechnung 4711") == "reminder"  # before invoice
    assert rules.predict("Kündigung; Schadenfall") == "termination"  # before claim
    assert rules.predict("Your CLAIM no. 5") == "claim"
    assert rules.predict("Kontoauszug 3/2024") == "statement"
    assert rules.predict("INVOICE") == "invoice"
    assert rules.predict("no cue at all") == "invoice"  # the majority class
    assert KeywordBaseline({"claim": ("x",)}).fit(["reminder"]).predict("y") == "reminder"


def test_baseline_takes_first_matches() -> None:
    text = "Order 12.01.2024\nInvoice INV-2024-7 of 15.01.2024\nNet 10.00\nTotal 11.90\n"
    found = {s.label: s.text for s in baseline_extract(text)}
    assert found == {
        "invoice_date": "12.01.2024",
        "due_date": "15.01.2024",
        "total_amount": "10.00",
        "invoice_number": "INV-2024-7",
    }
