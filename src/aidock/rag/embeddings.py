"""Embedding functions: an offline hashing embedder and an OpenAI-backed one."""

from __future__ import annotations

import hashlib
import itertools
import math
import os
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from aidock.rag.config import RagConfig, read_api_key
from aidock.rag.openai_client import OpenAIClient

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


@register_embedding_function
class OpenAIEmbedder(Embedder):
    """Embeddings from an OpenAI-compatible ``/embeddings`` endpoint."""

    def __init__(self, client: OpenAIClient, model: str) -> None:
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
        key = read_api_key(os.environ) or ""
        client = OpenAIClient(api_key=key, base_url=str(config["base_url"]))
        return OpenAIEmbedder(client, str(config["model"]))


def make_embedder(config: RagConfig) -> Embedder:
    """OpenAI embeddings when a key is configured, else the offline hashing embedder."""
    if config.openai_api_key:
        client = OpenAIClient(
            config.openai_api_key, config.openai_base_url, timeout=config.openai_timeout
        )
        return OpenAIEmbedder(client, config.openai_embedding_model)
    return HashingEmbedder()
