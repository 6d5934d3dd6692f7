"""The document AIs: extraction (random forest over tokens) and categorization (TF-IDF).

Submodules: ``document`` (``Document``, ``Span``, categories and field labels),
``formats`` (IBAN layouts and checks), ``corpus`` (seeded synthetic training data, a
package the served AIs never import), ``features`` (tokenizer and token features),
``base`` (the ``AI`` base: identity, save/load), ``extraction``, ``categorization``,
``metrics`` (scores, baselines) and ``benchmark`` (the AIs against the baselines). Names
below are imported on first use so that ``aidock.ais.corpus`` does not load scikit-learn.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "AI": "base",
    "ArtifactError": "base",
    "NotTrainedError": "base",
    "CategorizationAI": "categorization",
    "CategoryPrediction": "categorization",
    "CATEGORIES": "document",
    "FIELD_LABELS": "document",
    "Document": "document",
    "Span": "document",
    "generate": "corpus",
    "ExtractionAI": "extraction",
    "run_benchmark": "benchmark",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
