"""Span-level and categorization metrics and trivial baselines.

Extraction is scored by exact match of ``(label, start, end)``; categorization by
accuracy and macro-F1. The baselines are deliberately naive: the first date is the
invoice date and the last one the due date, the first amount the total, the first
IBAN-looking string the IBAN, the first id-looking token the invoice number; for
categorization the majority class, and keyword rules (the first category, in a fixed
order, one of whose words occurs). The benchmark of the AIs against them is
``aidock.ais.benchmark``.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from sklearn.metrics import (
    accuracy_score,
    multilabel_confusion_matrix,
    precision_recall_fscore_support,
)
from sklearn.metrics import confusion_matrix as sklearn_confusion_matrix

from aidock.ais.document import CATEGORIES, FIELD_LABELS, Span
from aidock.ais.features import AMOUNT_RE, DATE_RE, IBAN_CANDIDATE_RE, ID_RE, TOKEN_RE

# The side of a span key that has no span with it (never one of the labels scored).
_NO_SPAN = ""
_COUNTS = ("tp", "fp", "fn")


def _f1(precision: float, recall: float) -> float:
    """2PR/(P+R): sklearn's 2tp/(2tp+fp+fn) is the same F1 but can differ from it in the last
    digit, and the published results (bench/results/models.json) were computed this way."""
    return 2 * precision * recall / (precision + recall) if precision + recall else 0.0


def _scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str]
) -> tuple[dict[str, dict[str, Any]], dict[str, Any]]:
    """Precision, recall and F1 of each label and micro-averaged over ``labels``, with the
    true and false positives, false negatives and support behind them (``sklearn.metrics``;
    0 where a ratio has nothing to divide by; F1 by ``_f1``). Answers and truths outside
    ``labels`` are not scored."""
    labels = list(labels)
    if not labels or not gold:
        zero = {"precision": 0.0, "recall": 0.0, "f1": 0.0, "tp": 0, "fp": 0, "fn": 0}
        return {label: {**zero, "support": 0} for label in labels}, {**zero, "support": 0}
    matrices = multilabel_confusion_matrix(gold, predicted, labels=labels)  # [[tn, fp], [fn, tp]]
    counts = matrices[:, [1, 0, 1], [1, 1, 0]]  # tp, fp, fn of each label
    precision, recall, _, support = precision_recall_fscore_support(
        gold, predicted, labels=labels, average=None, zero_division=0.0
    )
    per_label = {
        label: {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": _f1(float(precision[i]), float(recall[i])),
            **{name: int(n) for name, n in zip(_COUNTS, counts[i], strict=True)},
            "support": int(support[i]),
        }
        for i, label in enumerate(labels)
    }
    micro_precision, micro_recall, _, _ = precision_recall_fscore_support(
        gold, predicted, labels=labels, average="micro", zero_division=0.0
    )
    totals = counts.sum(axis=0)
    return per_label, {
        "precision": float(micro_precision),
        "recall": float(micro_recall),
        "f1": _f1(float(micro_precision), float(micro_recall)),
        **{name: int(n) for name, n in zip(_COUNTS, totals, strict=True)},
        "support": int(totals[0] + totals[2]),
    }


def span_scores(
    gold: Sequence[Iterable[Span]],
    predicted: Sequence[Iterable[Span]],
    labels: Sequence[str] = FIELD_LABELS,
) -> dict[str, Any]:
    """Per-label and micro-averaged precision/recall/F1 of exact span matches.

    Each ``(label, start, end)`` of a document, gold or predicted, is one sample: its label
    on the side(s) that have it, none on the other; ``sklearn.metrics`` scores the labels.
    """
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predictions")
    truths: list[str] = []
    answers: list[str] = []
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        gold_keys = {s.key for s in gold_spans}
        pred_keys = {s.key for s in pred_spans}
        for key in sorted(gold_keys | pred_keys):
            truths.append(key[0] if key in gold_keys else _NO_SPAN)
            answers.append(key[0] if key in pred_keys else _NO_SPAN)
    per_label, micro = _scores(truths, answers, labels)
    macro_f1 = sum(s["f1"] for s in per_label.values()) / len(per_label) if per_label else 0.0
    return {"per_label": per_label, "micro": micro, "macro_f1": macro_f1}


def classification_scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = CATEGORIES
) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels`` and per-label precision/recall/F1."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    per_label, _ = _scores(gold, predicted, labels)
    return {
        "accuracy": float(accuracy_score(gold, predicted)) if gold else 0.0,
        "macro_f1": sum(s["f1"] for s in per_label.values()) / len(labels) if labels else 0.0,
        "per_label": per_label,
    }


def confusion_matrix(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = CATEGORIES
) -> dict[str, dict[str, int]]:
    """``matrix[gold][predicted]``: how many documents of each category got which answer."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    labels = list(labels)
    if not set(gold) & set(labels):  # sklearn wants one of them among the truths
        return {g: dict.fromkeys(labels, 0) for g in labels}
    matrix = sklearn_confusion_matrix(gold, predicted, labels=labels)
    return {
        g: {p: int(n) for p, n in zip(labels, row, strict=True)}
        for g, row in zip(labels, matrix, strict=True)
    }


# ------------------------------------------------------------------------- baselines


def baseline_extract(text: str) -> list[Span]:
    """Regex-only heuristic: the first (or last) match of each pattern, no context."""
    spans: list[Span] = []
    dates = list(DATE_RE.finditer(text))
    if dates:
        spans.append(_span("invoice_date", dates[0], text))
        if len(dates) > 1:
            spans.append(_span("due_date", dates[-1], text))
    date_cover = [(m.start(), m.end()) for m in dates]
    for m in TOKEN_RE.finditer(text):
        if AMOUNT_RE.fullmatch(m.group()) and not _inside(m, date_cover):
            spans.append(_span("total_amount", m, text))
            break
    iban = IBAN_CANDIDATE_RE.search(text)
    if iban:
        spans.append(Span("iban", iban.start(), iban.end(), iban.group()))
    for m in TOKEN_RE.finditer(text):
        token = m.group()
        if ID_RE.fullmatch(token) and not AMOUNT_RE.fullmatch(token) and not _inside(m, date_cover):
            spans.append(_span("invoice_number", m, text))
            break
    return spans


def _span(label: str, m: re.Match[str], text: str) -> Span:
    return Span(label, m.start(), m.end(), text[m.start() : m.end()])


def _inside(m: re.Match[str], ranges: list[tuple[int, int]]) -> bool:
    return any(start <= m.start() and m.end() <= end for start, end in ranges)


class MajorityBaseline:
    """Always answers the most frequent training category."""

    def __init__(self) -> None:
        self.category: str | None = None

    def fit(self, categories: Sequence[str]) -> MajorityBaseline:
        self.category = Counter(categories).most_common(1)[0][0]
        return self

    def predict(self, text: str) -> str:
        if self.category is None:
            raise RuntimeError("MajorityBaseline is not fitted")
        return self.category


# Keyword rules, tried in this order; a title word of each category, English and German.
CATEGORY_KEYWORDS: dict[str, tuple[str, ...]] = {
    "reminder": ("reminder", "overdue", "mahnung", "zahlungserinnerung"),
    "termination": ("terminat", "cancel", "kündig"),
    "claim": ("claim", "schaden"),
    "statement": ("statement", "kontoauszug", "balance", "kontostand"),
    "invoice": ("invoice", "rechnung"),
}


class KeywordBaseline:
    """The first category (in ``CATEGORY_KEYWORDS`` order) one of whose words occurs.

    Without any keyword in the text it answers the majority training category.
    """

    def __init__(self, keywords: dict[str, tuple[str, ...]] | None = None) -> None:
        self.keywords = dict(CATEGORY_KEYWORDS if keywords is None else keywords)
        self.fallback = MajorityBaseline()

    def fit(self, categories: Sequence[str]) -> KeywordBaseline:
        self.fallback.fit(categories)
        return self

    def predict(self, text: str) -> str:
        lowered = text.lower()
        for category, words in self.keywords.items():
            if any(word in lowered for word in words):
                return category
        return self.fallback.predict(text)
