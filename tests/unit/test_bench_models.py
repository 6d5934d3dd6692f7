"""The ``models`` bench suite: registration, rendering and headline from real metric output."""

from __future__ import annotations

import pytest

pytest.importorskip("sklearn")

from bench import models
from bench.__main__ import SUITES, select
from bench.common import Context

from aidock.ais.document import CATEGORIES, FIELD_LABELS, Span
from aidock.ais.metrics import (
    classification_scores,
    confusion_matrix,
    span_scores,
)


def _result() -> dict:
    """A ``run_benchmark``-shaped result built from real scores of tiny inputs."""
    gold_spans = [[Span("iban", 0, 4, "abcd"), Span("total_amount", 10, 12, "12")]]
    model_spans = [[Span("iban", 0, 4, "abcd", 0.9)]]
    base_spans = [[Span("total_amount", 9, 12, "x12")]]
    gold = ["invoice", "invoice", "claim", "reminder"]
    predicted = ["invoice", "reminder", "claim", "reminder"]
    speed = {"train_seconds": 1.25, "predict_ms_per_doc": 2.5, "predict_ms_p50": 2.0}
    return {
        "corpus": {"version": "v2", "n_train": 40, "n_test": 4, "train_seed": 1, "test_seed": 2},
        "extraction": {
            "model": span_scores(gold_spans, model_spans),
            "baseline": span_scores(gold_spans, base_spans),
            **speed,
        },
        "categorization": {
            "model": classification_scores(gold, predicted),
            "baseline": classification_scores(gold, ["invoice"] * 4),
            "keyword_baseline": classification_scores(gold, ["invoice", "invoice", "claim", "x"]),
            "confusion": confusion_matrix(gold, predicted),
            **speed,
        },
    }


def test_suite_is_registered_and_selectable() -> None:
    assert models.MODELS in SUITES
    assert select("models", None) == [(models.MODELS, [models.QUALITY])]
    assert select(None, "models/quality") == [(models.MODELS, [models.QUALITY])]


def test_render_has_every_field_category_and_the_confusion_matrix() -> None:
    text = models.render_quality(_result())
    for name in (*FIELD_LABELS, *CATEGORIES, "**micro**", "keyword rules", "majority class"):
        assert name in text, name
    # model micro: 1 of 2 gold spans found, no false positive
    assert "| **micro** | 2 | 1.000 | 0.500 | **0.667** | 0.000 / 0.000 / 0.000 |" in text
    # one invoice was answered "reminder"
    assert "| invoice | 1 | 1 | 0 | 0 | 0 |" in text
    assert "p50 2.0 ms per document (mean 2.5 ms)" in text


def test_headline_compares_with_the_baselines() -> None:
    rows = models.quality_headline(_result())
    assert [len(row) for row in rows] == [4, 4, 4, 4]
    extraction, categorization = rows[0], rows[1]
    assert extraction[1] == "**0.667**" and extraction[2] == "regex baseline 0.000"
    assert extraction[3] == "n/a"  # no ratio against a zero baseline
    assert categorization[1] == "**0.750**"
    assert categorization[2] == "keyword rules 0.750, majority class 0.500"
    assert categorization[3] == "1.00x of keyword rules"
    assert rows[2][1] == "1.2 s / 2.0 ms"


def test_run_trains_and_scores_a_small_split(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(models, "N_TRAIN", 80)
    monkeypatch.setattr(models, "N_TEST", 40)
    result = models.run_quality(Context())
    assert result["corpus"]["n_train"] == 80 and result["corpus"]["n_test"] == 40
    cat = result["categorization"]
    assert sum(sum(row.values()) for row in cat["confusion"].values()) == 40
    assert cat["model"]["accuracy"] > cat["baseline"]["accuracy"]
    ext = result["extraction"]
    assert ext["model"]["micro"]["f1"] > ext["baseline"]["micro"]["f1"]
    assert ext["predict_ms_p50"] > 0
    models.render_quality(result)
