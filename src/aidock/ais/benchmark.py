"""The model benchmark: both AIs next to the baselines of ``aidock.ais.metrics``.

``python -m aidock.ais.benchmark`` trains the extraction and categorization AIs on one
generated split and scores them and the trivial baselines on a held-out one (another
seed), then prints the result as JSON. It lives apart from ``aidock.ais.metrics`` because
it uses the AIs, which themselves score with ``aidock.ais.metrics``.
"""

from __future__ import annotations

import json
import statistics
import time
from typing import Any

from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import CORPUS_VERSION, generate
from aidock.ais.extraction import ExtractionAI
from aidock.ais.metrics import (
    KeywordBaseline,
    MajorityBaseline,
    baseline_extract,
    classification_scores,
    confusion_matrix,
    span_scores,
)


def run_benchmark(
    n_train: int = 1200, n_test: int = 400, train_seed: int = 1, test_seed: int = 2
) -> dict[str, Any]:
    """Train both AIs on one seed, score them and the baselines on another."""
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
