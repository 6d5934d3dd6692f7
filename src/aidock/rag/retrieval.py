"""Lexical retrieval (BM25) and reciprocal rank fusion with the dense ranking.

BM25 libraries considered: ``bm25s`` (eager sparse scoring, built for millions of passages,
with its own tokenizer and stemmer) and ``rank-bm25`` (one module, numpy only). A RAG
collection here holds hundreds to a few thousand passages, where ``rank-bm25`` scores all of
them in about a millisecond, and it takes our own terms (``aidock.rag.embeddings.terms``:
the stemming and stopwords the extractive answer uses), so it was chosen. The index lives in
memory, built from the collection's stored passages on first use and dropped when the
collection changes.

Reciprocal rank fusion (Cormack et al., 2009): a passage scores ``sum 1 / (k + rank)`` over
the rankings it appears in, with the customary ``k = 60``; reported scores are divided by the
best possible sum so that they lie in (0, 1].
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from rank_bm25 import BM25Okapi

from aidock.rag.embeddings import terms

RRF_K = 60


@dataclass(frozen=True)
class LexicalIndex:
    """BM25 over the passages of one collection (ids in index order)."""

    ids: tuple[str, ...]
    bm25: BM25Okapi | None

    @classmethod
    def build(cls, ids: Sequence[str], texts: Sequence[str]) -> LexicalIndex:
        """Index ``texts`` (an empty collection gives an index that finds nothing)."""
        tokens = [terms(text) or ["_"] for text in texts]
        return cls(tuple(ids), BM25Okapi(tokens) if tokens else None)

    def search(self, question: str, limit: int) -> list[str]:
        """Ids of the ``limit`` best passages that share a term with ``question``."""
        query = terms(question)
        if self.bm25 is None or not query:
            return []
        scores = np.asarray(self.bm25.get_scores(query))
        order = np.argsort(-scores, kind="stable")[:limit]
        return [self.ids[i] for i in order if scores[i] > 0]


class LexicalCache:
    """One ``LexicalIndex`` per collection, rebuilt when its version changes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._indexes: dict[str, tuple[object, LexicalIndex]] = {}

    def get(self, name: str, version: object) -> LexicalIndex | None:
        """The index of ``name`` if it was built for ``version``."""
        with self._lock:
            entry = self._indexes.get(name)
        return entry[1] if entry and entry[0] == version else None

    def put(self, name: str, version: object, index: LexicalIndex) -> None:
        """Remember ``index`` as the one of ``name`` at ``version``."""
        with self._lock:
            self._indexes[name] = (version, index)

    def drop(self, name: str) -> None:
        """Forget the index of ``name`` (its passages changed)."""
        with self._lock:
            self._indexes.pop(name, None)


def reciprocal_rank_fusion(
    rankings: Sequence[Sequence[str]], k: int = RRF_K
) -> list[tuple[str, float]]:
    """(id, score) best first; scores normalised to (0, 1] by the best possible sum."""
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, pid in enumerate(ranking, start=1):
            scores[pid] = scores.get(pid, 0.0) + 1.0 / (k + rank)
    best = len(rankings) / (k + 1) if rankings else 1.0
    ordered = sorted(scores.items(), key=lambda item: -item[1])  # stable: ties keep order
    return [(pid, round(score / best, 6)) for pid, score in ordered]
