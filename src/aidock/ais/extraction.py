"""Extraction AI: a random forest labels candidate tokens, adjacent ones become spans.

Decoding: the tokens of one date or IBAN share their mean class probabilities (one
label per unit); adjacent tokens with the same label merge across short same-line
punctuation gaps; fields are single-valued, so the most confident span per label is
kept, and a label that no token won still gets its likeliest unit when that unit's
probability reaches ``fallback_threshold`` (0.3, chosen on a validation seed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from aidock.ais.base import AI
from aidock.ais.document import FIELD_LABELS, Document, Span
from aidock.ais.features import FEATURES_VERSION, FeatureExtractor, Featurized, Token
from aidock.ais.metrics import span_scores

OUTSIDE = "O"
_MAX_GAP_CHARS = 3  # tokens of one span may be separated by this much (", " or ". ")


class ExtractionAI(AI):
    """Finds ``invoice_number``, ``invoice_date``, ``due_date``, ``total_amount``, ``iban``."""

    name = "extraction"
    schema_version = "extraction/v1"

    def __init__(
        self,
        version: str = "1",
        *,
        n_estimators: int = 100,
        min_samples_leaf: int = 1,
        max_features: str | float = "sqrt",
        n_jobs: int = 2,
        random_state: int = 0,
        single_valued: bool = True,
        fallback_threshold: float = 0.3,
    ) -> None:
        super().__init__(version)
        self.params = {
            "n_estimators": n_estimators,
            "min_samples_leaf": min_samples_leaf,
            "max_features": max_features,
            "n_jobs": n_jobs,
            "random_state": random_state,
        }
        self.single_valued = single_valued
        self.fallback_threshold = fallback_threshold
        self.features = FeatureExtractor()
        self.model: RandomForestClassifier | None = None

    @property
    def is_trained(self) -> bool:
        return self.model is not None

    @property
    def labels(self) -> tuple[str, ...]:
        """The field labels this AI can emit."""
        return FIELD_LABELS

    def _fit(self, docs: Sequence[Document]) -> None:
        rows, targets = [], []
        for doc in docs:
            featurized = self.features.transform(doc.text)
            rows.append(featurized.matrix)
            targets += _token_labels(featurized.tokens, featurized.candidates, doc.fields)
        if not targets:
            raise ValueError("the training documents have no candidate tokens")
        model = RandomForestClassifier(**self.params)
        model.fit(np.concatenate(rows), np.asarray(targets))
        model.n_jobs = 1  # one text at a time: thread fan-out costs more than it saves
        self.model = model

    def predict(self, text: str) -> list[Span]:
        """Field spans of ``text`` with the forest's mean token probability as confidence."""
        return self.predict_many([text])[0]

    def predict_many(self, texts: Sequence[str]) -> list[list[Span]]:
        """``predict`` for several texts with one forest call."""
        self._require_trained()
        assert self.model is not None
        parsed = [self.features.transform(text) for text in texts]
        sizes = [len(f.candidates) for f in parsed]
        if sum(sizes) == 0:
            return [[] for _ in texts]
        proba = self.model.predict_proba(np.concatenate([f.matrix for f in parsed]))
        classes = list(self.model.classes_)
        results, offset = [], 0
        for text, featurized, size in zip(texts, parsed, sizes, strict=True):
            if size == 0:
                results.append([])
                continue
            block = _vote_units(proba[offset : offset + size], featurized.units)
            offset += size
            best = block.argmax(axis=1)
            tagged = [
                (index, classes[b], float(block[row, b]))
                for row, (index, b) in enumerate(zip(featurized.candidates, best, strict=True))
                if classes[b] != OUTSIDE
            ]
            spans = _group(text, featurized.tokens, tagged)
            if self.single_valued:
                spans = _best_per_label(spans)
                spans += self._fallback(text, featurized, block, classes, spans)
                spans.sort(key=lambda span: span.start)
            results.append(spans)
        return results

    def _fallback(
        self,
        text: str,
        featurized: Featurized,
        block: np.ndarray,
        classes: list[str],
        found: list[Span],
    ) -> list[Span]:
        """For a label that no token won, take its likeliest unit if probable enough."""
        extra: list[Span] = []
        taken = [(s.start, s.end) for s in found]
        for column, label in enumerate(classes):
            if label == OUTSIDE or any(s.label == label for s in found):
                continue
            row = int(block[:, column].argmax())
            confidence = float(block[row, column])
            if confidence < self.fallback_threshold:
                continue
            unit = featurized.units[row]
            rows = [k for k, u in enumerate(featurized.units) if u == unit] if unit else [row]
            start = featurized.tokens[featurized.candidates[rows[0]]].start
            end = featurized.tokens[featurized.candidates[rows[-1]]].end
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            extra.append(Span(label, start, end, text[start:end], round(confidence, 4)))
        return extra

    def evaluate(self, docs: Sequence[Document]) -> dict[str, Any]:
        """Span-level exact-match precision/recall/F1 per label and micro-averaged."""
        predicted = self.predict_many([d.text for d in docs])
        return span_scores([d.fields for d in docs], predicted)

    def _state(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "params": self.params,
            "single_valued": self.single_valued,
            "fallback_threshold": self.fallback_threshold,
            "features_version": FEATURES_VERSION,
            "left_window": self.features.left_window,
            "right_window": self.features.right_window,
        }

    def _restore(self, state: dict[str, Any]) -> None:
        if state["features_version"] != FEATURES_VERSION:
            raise ValueError(
                f"artifact uses features {state['features_version']!r}, "
                f"this code computes {FEATURES_VERSION!r}"
            )
        self.params = state["params"]
        self.single_valued = state["single_valued"]
        self.fallback_threshold = state["fallback_threshold"]
        self.features = FeatureExtractor(state["left_window"], state["right_window"])
        self.model = state["model"]


def _token_labels(tokens: list[Token], candidates: list[int], spans: Sequence[Span]) -> list[str]:
    """Gold label of each candidate token: the span that contains it, else ``O``."""
    labels = []
    for index in candidates:
        tok = tokens[index]
        label = next((s.label for s in spans if s.start <= tok.start and tok.end <= s.end), OUTSIDE)
        labels.append(label)
    return labels


def _vote_units(block: np.ndarray, units: Sequence[tuple[str, int] | None]) -> np.ndarray:
    """Give the tokens of one date or IBAN their mean class probabilities."""
    block = block.copy()
    members: dict[tuple[str, int], list[int]] = {}
    for row, unit in enumerate(units):
        if unit is not None:
            members.setdefault(unit, []).append(row)
    for rows in members.values():
        if len(rows) > 1:
            block[rows] = block[rows].mean(axis=0)
    return block


def _group(text: str, tokens: list[Token], tagged: list[tuple[int, str, float]]) -> list[Span]:
    """Merge labelled tokens into spans across small same-line punctuation gaps."""
    spans: list[Span] = []
    current: list[tuple[int, str, float]] = []

    def close() -> None:
        if current:
            start, end = tokens[current[0][0]].start, tokens[current[-1][0]].end
            confidence = sum(p for _, _, p in current) / len(current)
            spans.append(Span(current[0][1], start, end, text[start:end], round(confidence, 4)))
            current.clear()

    for index, label, prob in tagged:
        if current:
            last_index, last_label, _ = current[-1]
            last, tok = tokens[last_index], tokens[index]
            between = tokens[last_index + 1 : index]
            joinable = (
                label == last_label
                and tok.line == last.line
                and tok.start - last.end <= _MAX_GAP_CHARS
                and all(not t.text.isalnum() for t in between)
            )
            if not joinable:
                close()
        current.append((index, label, prob))
    close()
    return spans


def _best_per_label(spans: list[Span]) -> list[Span]:
    """Fields are single-valued: keep the most confident span of each label."""
    best: dict[str, Span] = {}
    for span in spans:
        if span.label not in best or span.confidence > best[span.label].confidence:
            best[span.label] = span
    return sorted(best.values(), key=lambda s: s.start)
