"""Embedding functions: WordLlama (offline default), feature hashing, an LLM server's.

Offline candidates considered for the default (issue 13, numbers in bench/results/rag.md):
``wordllama`` 0.4.0.post1 (static token embeddings distilled from an LLM's codebook, 256
dimensions, its 16 MB safetensors weights and tokenizer inside the wheel, numpy-only
inference in well under a millisecond per query) was chosen; ``model2vec``, ``fastembed``
and sentence-transformers were not, because they fetch their weights from a hub at run
time (which fails at an air-gapped site) and the last two bring onnxruntime or torch.
The hashing embedder stays as a selectable, dependency-free fallback
(``RAG_EMBEDDER=hashing``) and as the bench's lexical baseline.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
import threading
from collections import Counter
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from aidock.rag.config import DEFAULT_OPENAI_BASE_URL, RagConfig, read_api_key
from aidock.rag.llm import LLMClient

HASH_DIM = 1024
_WORD = re.compile(r"\w+", re.UNICODE)

STOPWORDS: frozenset[str] = frozenset(
    """
    a about above after again against all am an and any are aren as at be because been before
    being below between both but by can cannot could did do does doing done down during each
    either else ever every few for from further had has have having he her here hers herself
    him himself his i if in into is isn it its itself just me more most my myself no nor not
    of off on once only or other our ours ourselves out over own same shall she should so some
    such than that the their theirs them themselves then there these they this those through to
    too under until up upon us very was we were what whatever when where whether which while
    who whom whose why will with within without would you your yours yourself yourselves how
    also may might must per via
    """.split()  # noqa: SIM905
)


def stem(word: str) -> str:
    """Light suffix stripping (plurals, -ing, -ed, -ly, final e); numbers pass through."""
    if len(word) <= 3 or not word.isalpha():
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith("sses"):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ingly", "edly", "ing", "ed", "ly"):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)]
            if len(w) >= 3 and w[-1] == w[-2] and w[-1] not in "lsz":
                w = w[:-1]
            break
    if w.endswith("e") and len(w) > 4:
        w = w[:-1]
    return w


def tokenize(text: str) -> list[str]:
    """Lowercased unicode word tokens."""
    return [t for t in _WORD.findall(text.lower()) if t.strip("_")]


def terms(text: str, stopwords: Iterable[str] = STOPWORDS) -> list[str]:
    """Stopword-free, stemmed terms of ``text`` in order."""
    stop = stopwords if isinstance(stopwords, frozenset | set) else frozenset(stopwords)
    return [stem(t) for t in tokenize(text) if t not in stop]


def _features(text: str) -> Counter[tuple[str, float]]:
    """Weighted features: unigrams, word bigrams and character trigrams."""
    feats: Counter[tuple[str, float]] = Counter()
    words = terms(text)
    for w in words:
        feats[("u:" + w, 1.0)] += 1
        padded = f"<{w}>"
        for i in range(len(padded) - 2):
            feats[("c:" + padded[i : i + 3], 0.15)] += 1
    for a, b in itertools.pairwise(words):
        feats[(f"b:{a} {b}", 0.6)] += 1
    return feats


def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    return value % dim, (1.0 if (value >> 63) & 1 else -1.0)


def hash_embed(text: str, dim: int = HASH_DIM) -> np.ndarray:
    """Deterministic L2-normalised float32 vector for ``text``."""
    vec = np.zeros(dim, dtype=np.float64)
    feats = _features(text)
    if not feats:
        feats[("__empty__", 1.0)] = 1
    for (feature, weight), tf in feats.items():
        index, sign = _bucket(feature, dim)
        vec[index] += sign * weight * (1.0 + math.log(tf))
    norm = float(np.linalg.norm(vec))
    if norm == 0.0:  # all features cancelled out: fall back to a fixed direction
        index, sign = _bucket("__empty__", dim)
        vec[index] = sign
        norm = 1.0
    return (vec / norm).astype(np.float32)


class Embedder(EmbeddingFunction[Documents]):
    """Base class: ``embedder_id`` identifies the vector space stored in collection metadata."""

    @property
    def embedder_id(self) -> str:
        raise NotImplementedError

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine"]


@register_embedding_function
class HashingEmbedder(Embedder):
    """Offline feature-hashing embedder: no model file, no download."""

    def __init__(self, dim: int = HASH_DIM) -> None:
        self.dim = dim

    def __call__(self, input: Documents) -> Embeddings:
        return [hash_embed(text, self.dim) for text in input]

    @property
    def embedder_id(self) -> str:
        return f"hashing-v1-{self.dim}"

    @staticmethod
    def name() -> str:
        return "aidock-hashing"

    def get_config(self) -> dict[str, Any]:
        return {"dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> HashingEmbedder:
        return HashingEmbedder(int(config.get("dim", HASH_DIM)))


WORDLLAMA_CONFIG = "l2_supercat"
WORDLLAMA_DIM = 256
_WORDLLAMA_LOCK = threading.Lock()
_WORDLLAMA_MODELS: dict[tuple[str, int], Any] = {}


def load_wordllama(config: str = WORDLLAMA_CONFIG, dim: int = WORDLLAMA_DIM) -> Any:
    """The WordLlama model from the files inside the installed wheel, loaded once.

    Downloads are disabled. ``cache_dir`` is the package folder itself: 0.4.0.post1 looks
    for its tokenizer in ``<package>/tokenizer/`` but ships it in ``<package>/tokenizers/``,
    which is where its cache lookup (``<cache_dir>/tokenizers/``) finds it. Nothing is
    written there.
    """
    import wordllama  # noqa: PLC0415  numpy-only, but 20 MB of weights: load on demand

    key = (config, dim)
    with _WORDLLAMA_LOCK:
        if key not in _WORDLLAMA_MODELS:
            _WORDLLAMA_MODELS[key] = wordllama.WordLlama.load(
                config=config,
                dim=dim,
                disable_download=True,
                cache_dir=Path(wordllama.__file__).parent,
            )
        return _WORDLLAMA_MODELS[key]


@register_embedding_function
class WordLlamaEmbedder(Embedder):
    """Offline WordLlama embeddings (weights from the wheel, never downloaded)."""

    def __init__(self, config: str = WORDLLAMA_CONFIG, dim: int = WORDLLAMA_DIM) -> None:
        self.config = config
        self.dim = dim
        self.version = metadata.version("wordllama")
        self.model = load_wordllama(config, dim)

    def __call__(self, input: Documents) -> Embeddings:
        vectors = self.model.embed(list(input), norm=True)
        return [np.asarray(v, dtype=np.float32) for v in vectors]

    @property
    def embedder_id(self) -> str:
        return f"wordllama-{self.version}:{self.config}-{self.dim}"

    @staticmethod
    def name() -> str:
        return "aidock-wordllama"

    def get_config(self) -> dict[str, Any]:
        return {"config": self.config, "dim": self.dim}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> WordLlamaEmbedder:
        return WordLlamaEmbedder(
            str(config.get("config", WORDLLAMA_CONFIG)), int(config.get("dim", WORDLLAMA_DIM))
        )


@register_embedding_function
class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, client: LLMClient, model: str) -> None:
        self.client = client
        self.model = model

    def __call__(self, input: Documents) -> Embeddings:
        return [np.asarray(v, dtype=np.float32) for v in self.client.embed(list(input), self.model)]

    @property
    def embedder_id(self) -> str:
        return f"openai:{self.model}"

    @staticmethod
    def name() -> str:
        return "aidock-openai"

    def get_config(self) -> dict[str, Any]:
        return {"model": self.model, "base_url": self.client.base_url}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> OpenAIEmbedder:
        client = LLMClient(
            str(config.get("base_url", DEFAULT_OPENAI_BASE_URL)), read_api_key(os.environ)
        )
        return OpenAIEmbedder(client, str(config["model"]))


def make_embedder(config: RagConfig) -> Embedder:
    """The embedder ``RAG_EMBEDDER`` names (``wordllama`` unless told otherwise)."""
    if config.embedder == "openai":
        return OpenAIEmbedder(LLMClient.from_config(config), config.openai_embedding_model)
    if config.embedder == "hashing":
        return HashingEmbedder()
    return WordLlamaEmbedder()


def sentence_embedder(embedder: Embedder) -> Embedder:
    """A local embedder for scoring answer sentences: ``embedder`` itself unless it calls a
    server (then WordLlama: no network round trip per question for the offline answer)."""
    return WordLlamaEmbedder() if isinstance(embedder, OpenAIEmbedder) else embedder
