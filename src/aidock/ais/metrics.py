"""Span-level and categorization metrics, trivial baselines and the model benchmark.

Extraction is scored by exact match of ``(label, start, end)``; categorization by
accuracy and macro-F1. The baselines are deliberately naive: the first date is the
invoice date and the last one the due date, the first amount the total, the first
IBAN-looking string the IBAN, the first id-looking token the invoice number; for
categorization the majority class, and keyword rules (the first category, in a fixed
order, one of whose words occurs). ``python -m aidock.ais.metrics`` prints the
benchmark (models vs baselines on a held-out split) as JSON.
"""

from __future__ import annotations

import json
import re
import statistics
import time
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


# ------------------------------------------------------------------------- benchmark


def run_benchmark(
    n_train: int = 1200, n_test: int = 400, train_seed: int = 1, test_seed: int = 2
) -> dict[str, Any]:
    """Train both AIs on one seed, score them and the baselines on another."""
    from aidock.ais.categorization import CategorizationAI
    from aidock.ais.corpus import CORPUS_VERSION, generate
    from aidock.ais.extraction import ExtractionAI

    train, test = generate(n_train, train_seed), generate(n_test, test_seed)
    gold_spans = [d.fields for d in test]
    results: dict[str, Any] = {
        "corpus": {"version": CORPUS_VERSION, "n_train": n_train, "n_test": n_test,
                   "train_seed": train_seed, "test_seed": test_seed},
    }  # fmt: skip
    gold_categories = [d.category for d in test]
    categorizer = CategorizationAI()
    for ai in (ExtractionAI(), categorizer):
        ai.train(train)
        latencies = []
        for doc in test:
            began = time.perf_counter()
            ai.predict(doc.text)
            latencies.append((time.perf_counter() - began) * 1000)
        results[ai.name] = {
            "model": ai.evaluate(test),
            "train_seconds": ai.metadata["train_seconds"],
            "predict_ms_per_doc": round(statistics.fmean(latencies), 2),
            "predict_ms_p50": round(statistics.median(latencies), 2),
        }
    results["extraction"]["baseline"] = span_scores(
        gold_spans, [baseline_extract(d.text) for d in test]
    )
    predicted = [p["category"] for p in categorizer.predict_many([d.text for d in test])]
    cat = results["categorization"]
    cat["confusion"] = confusion_matrix(gold_categories, predicted, categorizer.categories)
    train_categories = [d.category for d in train]
    for key, baseline in (
        ("baseline", MajorityBaseline().fit(train_categories)),
        ("keyword_baseline", KeywordBaseline().fit(train_categories)),
    ):
        cat[key] = classification_scores(gold_categories, [baseline.predict(d.text) for d in test])
    return results


def summary(results: dict[str, Any]) -> dict[str, float]:
    """The headline numbers of ``run_benchmark``."""
    ext, cat = results["extraction"], results["categorization"]
    return {
        "extraction_micro_f1": round(ext["model"]["micro"]["f1"], 4),
        "extraction_baseline_micro_f1": round(ext["baseline"]["micro"]["f1"], 4),
        "categorization_accuracy": round(cat["model"]["accuracy"], 4),
        "categorization_macro_f1": round(cat["model"]["macro_f1"], 4),
        "categorization_baseline_accuracy": round(cat["baseline"]["accuracy"], 4),
        "categorization_keyword_baseline_accuracy": round(cat["keyword_baseline"]["accuracy"], 4),
        "extraction_train_seconds": ext["train_seconds"],
        "categorization_train_seconds": cat["train_seconds"],
        "extraction_predict_ms_per_doc": ext["predict_ms_per_doc"],
        "categorization_predict_ms_per_doc": cat["predict_ms_per_doc"],
    }


if __name__ == "__main__":
    outcome = run_benchmark()
    print(json.dumps({"summary": summary(outcome), "details": outcome}, indent=2))
