"""Categorization AI: TF-IDF of word and character n-grams, logistic regression."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, TypedDict

from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from aidock.ais.base import AI
from aidock.ais.document import CATEGORIES, Document
from aidock.ais.metrics import classification_scores

_DIGITS = re.compile(r"\d")


class CategoryPrediction(TypedDict):
    """Answer of ``CategorizationAI.predict``."""

    category: str
    confidence: float
    scores: dict[str, float]


def normalize(text: str) -> str:
    """Lower-case and map every digit to 0 (amounts, dates and ids are not topical)."""
    return _DIGITS.sub("0", text.lower())


class CategorizationAI(AI):
    """Tells invoices, reminders, claims, terminations and statements apart."""

    name = "categorization"
    schema_version = "categorization/v1"

    def __init__(self, version: str = "1", *, c: float = 10.0, max_iter: int = 2000) -> None:
        super().__init__(version)
        self.params = {"c": c, "max_iter": max_iter}
        self.model: Pipeline | None = None

    @property
    def is_trained(self) -> bool:
        return self.model is not None

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories the fitted model knows (all of ``CATEGORIES`` before training)."""
        return tuple(self.model.classes_) if self.model is not None else CATEGORIES

    def _fit(self, docs: Sequence[Document]) -> None:
        if len({d.category for d in docs}) < 2:
            raise ValueError("categorization needs at least two categories to train")
        words = TfidfVectorizer(
            preprocessor=normalize, ngram_range=(1, 2), min_df=2, sublinear_tf=True,
            max_features=50_000,
        )  # fmt: skip
        chars = TfidfVectorizer(
            preprocessor=normalize, analyzer="char_wb", ngram_range=(3, 5), min_df=2,
            sublinear_tf=True, max_features=100_000,
        )  # fmt: skip
        model = Pipeline(
            [
                ("features", FeatureUnion([("words", words), ("chars", chars)])),
                ("classifier", LogisticRegression(C=self.params["c"],
                                                  max_iter=self.params["max_iter"])),
            ]
        )  # fmt: skip
        model.fit([d.text for d in docs], [d.category for d in docs])
        self.model = model

    def predict(self, text: str) -> CategoryPrediction:
        """Most likely category, its probability and the probability of every category."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[CategoryPrediction]:
        """``predict`` for several texts at once."""
        self._require_trained()
        assert self.model is not None
        if not texts:
            return []
        classes = [str(c) for c in self.model.classes_]
        answers: list[CategoryPrediction] = []
        for row in self.model.predict_proba(list(texts)):
            scores = {c: round(float(p), 6) for c, p in zip(classes, row, strict=True)}
            best = max(scores, key=scores.__getitem__)
            answers.append({"category": best, "confidence": scores[best], "scores": scores})
        return answers

    def evaluate(self, docs: Sequence[Document]) -> dict[str, Any]:
        """Accuracy, macro-F1 and per-category precision/recall/F1."""
        predicted = [p["category"] for p in self.predict_many([d.text for d in docs])]
        return classification_scores([d.category for d in docs], predicted, self.categories)

    def _state(self) -> dict[str, Any]:
        return {"model": self.model, "params": self.params}

    def _restore(self, state: dict[str, Any]) -> None:
        self.model = state["model"]
        self.params = state["params"]
