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

from aidock.ais.document import CATEGORIES, FIELD_LABELS, Span
from aidock.ais.features import AMOUNT_RE, DATE_RE, IBAN_CANDIDATE_RE, ID_RE, TOKEN_RE


def _prf(tp: int, fp: int, fn: int) -> dict[str, float]:
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1, "tp": tp, "fp": fp, "fn": fn}


def span_scores(
    gold: Sequence[Iterable[Span]],
    predicted: Sequence[Iterable[Span]],
    labels: Sequence[str] = FIELD_LABELS,
) -> dict[str, Any]:
    """Per-label and micro-averaged precision/recall/F1 of exact span matches."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold documents but {len(predicted)} predictions")
    counts = {label: Counter[str]() for label in labels}
    for gold_spans, pred_spans in zip(gold, predicted, strict=True):
        gold_keys = {s.key for s in gold_spans}
        pred_keys = {s.key for s in pred_spans}
        for label, start, end in gold_keys | pred_keys:
            if label not in counts:
                continue
            in_gold = (label, start, end) in gold_keys
            in_pred = (label, start, end) in pred_keys
            counts[label]["tp" if in_gold and in_pred else "fn" if in_gold else "fp"] += 1
    per_label = {
        label: {**_prf(c["tp"], c["fp"], c["fn"]), "support": c["tp"] + c["fn"]}
        for label, c in counts.items()
    }
    total = sum(counts.values(), Counter[str]())
    micro = {**_prf(total["tp"], total["fp"], total["fn"]), "support": total["tp"] + total["fn"]}
    macro_f1 = sum(s["f1"] for s in per_label.values()) / len(per_label) if per_label else 0.0
    return {"per_label": per_label, "micro": micro, "macro_f1": macro_f1}


def classification_scores(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = CATEGORIES
) -> dict[str, Any]:
    """Accuracy, macro-F1 over ``labels`` and per-label precision/recall/F1."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    per_label = {}
    for label in labels:
        tp = sum(g == label and p == label for g, p in zip(gold, predicted, strict=True))
        fp = sum(g != label and p == label for g, p in zip(gold, predicted, strict=True))
        fn = sum(g == label and p != label for g, p in zip(gold, predicted, strict=True))
        per_label[label] = {**_prf(tp, fp, fn), "support": tp + fn}
    correct = sum(g == p for g, p in zip(gold, predicted, strict=True))
    return {
        "accuracy": correct / len(gold) if gold else 0.0,
        "macro_f1": sum(s["f1"] for s in per_label.values()) / len(labels) if labels else 0.0,
        "per_label": per_label,
    }


def confusion_matrix(
    gold: Sequence[str], predicted: Sequence[str], labels: Sequence[str] = CATEGORIES
) -> dict[str, dict[str, int]]:
    """``matrix[gold][predicted]``: how many documents of each category got which answer."""
    if len(gold) != len(predicted):
        raise ValueError(f"{len(gold)} gold labels but {len(predicted)} predictions")
    matrix = {g: dict.fromkeys(labels, 0) for g in labels}
    for g, p in zip(gold, predicted, strict=True):
        if g in matrix and p in matrix[g]:
            matrix[g][p] += 1
    return matrix


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
