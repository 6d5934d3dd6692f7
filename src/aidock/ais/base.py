"""Common base of the AIs: identity, training metadata and artifact save/load.

An artifact is one joblib file holding a dict: the artifact format, the AI's ``name``,
``schema_version`` and ``version``, free-form ``metadata`` and the fitted ``state``.
Loading unpickles, so only load artifacts you built or whose SHA-256 you pinned
(``load(path, sha256=...)`` checks the digest *before* unpickling).

``save_bento`` finds its builder through the ``aidock.bento`` entry point (pyproject.toml
names ``aidock.bento.build:save_bento``): the serving layer imports the AIs, so the AIs
never import it, and BentoML is loaded only when a Bento is built.
"""

from __future__ import annotations

import os
import platform
import tempfile
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from importlib.metadata import entry_points
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Self

import joblib
import numpy as np
import sklearn

from aidock.ais.document import Document
from aidock.digests import file_sha256

if TYPE_CHECKING:
    from aidock.bento.build import BentoBuild

ARTIFACT_FORMAT = 1
BENTO_BUILDER = ("aidock.bento", "save_bento")  # entry point group and name


class NotTrainedError(RuntimeError):
    """The AI was asked to predict, evaluate or save before ``train``."""


class ArtifactError(ValueError):
    """An artifact is unreadable, tampered with, or belongs to another AI or schema."""


class AI(ABC):
    """An AI that learns from ``Document``s and answers for one text at a time."""

    name: ClassVar[str]
    schema_version: ClassVar[str]

    def __init__(self, version: str = "1") -> None:
        self.version = version
        self.metadata: dict[str, Any] = {}

    # -- to implement ------------------------------------------------------------

    @property
    @abstractmethod
    def is_trained(self) -> bool:
        """True once ``train`` (or ``load``) has produced a fitted model."""

    @abstractmethod
    def _fit(self, docs: Sequence[Document]) -> None:
        """Fit the model on ``docs``."""

    @abstractmethod
    def predict(self, text: str) -> Any:
        """The AI's answer for one text."""

    @abstractmethod
    def evaluate(self, docs: Sequence[Document]) -> dict[str, Any]:
        """Metrics of the AI on labelled ``docs``."""

    @abstractmethod
    def _state(self) -> dict[str, Any]:
        """What ``save`` stores besides identity and metadata."""

    @abstractmethod
    def _restore(self, state: dict[str, Any]) -> None:
        """Inverse of ``_state``."""

    # -- shared ------------------------------------------------------------------

    def train(self, docs: Sequence[Document]) -> Self:
        """Fit on ``docs`` and record when, on how much and how long it took."""
        if not docs:
            raise ValueError("cannot train on an empty corpus")
        began = time.perf_counter()
        self._fit(docs)
        self.metadata = {
            "trained_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "train_docs": len(docs),
            "train_seconds": round(time.perf_counter() - began, 3),
            "sklearn_version": sklearn.__version__,
            "numpy_version": np.__version__,
            "python_version": platform.python_version(),
        }
        return self

    def describe(self) -> dict[str, Any]:
        """Identity and training metadata (for health/info endpoints)."""
        return {
            "name": self.name,
            "schema_version": self.schema_version,
            "version": self.version,
            "trained": self.is_trained,
            **self.metadata,
        }

    def save(self, path: str | Path) -> str:
        """Write the artifact atomically to ``path``; return its SHA-256."""
        self._require_trained()
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        payload = {
            "format": ARTIFACT_FORMAT,
            "name": self.name,
            "schema_version": self.schema_version,
            "version": self.version,
            "metadata": self.metadata,
            "state": self._state(),
        }
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as out:
                joblib.dump(payload, out, compress=3)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return file_sha256(path)

    def save_bento(self, output_dir: str | Path | None = None) -> BentoBuild:
        """Build a Bento serving this AI in the local BentoML store (``$BENTOML_HOME``).

        With ``output_dir``, also export it as a ``.bento`` archive:
        ``save_bento(output_dir="path/to/archive.bento")`` writes that file (a path ending in
        ``.bento``; parent directories are created), ``save_bento(output_dir="dist/")`` writes
        ``dist/<name>-<version>.bento``. The path of the archive is ``.archive`` of the
        result. Needs BentoML; see ``aidock.bento.build.save_bento``.
        """
        group, name = BENTO_BUILDER
        found = entry_points(group=group, name=name)
        if not found:
            raise RuntimeError(
                f"no Bento builder: the {group} entry point {name!r} is not installed "
                "(pip install the aidock package, e.g. `make venv`)"
            )
        build: Callable[[AI, str | Path | None], BentoBuild] = next(iter(found)).load()
        return build(self, output_dir)

    @classmethod
    def load(cls, path: str | Path, sha256: str | None = None) -> Self:
        """Read an artifact written by ``save`` of the same AI and schema version."""
        path = Path(path)
        if sha256 is not None and file_sha256(path) != sha256.lower():
            raise ArtifactError(f"{path}: SHA-256 mismatch, refusing to unpickle")
        payload = joblib.load(path)
        if not isinstance(payload, dict) or payload.get("format") != ARTIFACT_FORMAT:
            raise ArtifactError(f"{path}: not an aidock AI artifact (format {ARTIFACT_FORMAT})")
        for key in ("name", "schema_version"):
            if payload.get(key) != getattr(cls, key):
                raise ArtifactError(
                    f"{path}: artifact {key} {payload.get(key)!r} does not match "
                    f"{cls.__name__}.{key} {getattr(cls, key)!r}"
                )
        ai = cls.__new__(cls)
        AI.__init__(ai, version=payload["version"])
        ai.metadata = dict(payload.get("metadata", {}))
        ai._restore(payload["state"])
        return ai

    def _require_trained(self) -> None:
        if not self.is_trained:
            raise NotTrainedError(f"{type(self).__name__} is not trained; call train() or load()")
