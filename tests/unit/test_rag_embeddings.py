"""The offline hashing embedder."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

import numpy as np
import pytest

from aidock.rag.embeddings import HASH_DIM, HashingEmbedder, hash_embed, stem, terms, tokenize


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_vectors_are_normalised_float32_of_fixed_dim() -> None:
    vec = hash_embed("Invoices are retained for ten years.")
    assert vec.dtype == np.float32
    assert vec.shape == (HASH_DIM,)
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)


def test_deterministic_within_process() -> None:
    text = "Claims above EUR 250,000 must be approved by the Claims Committee."
    assert np.array_equal(hash_embed(text), hash_embed(text))


def test_deterministic_across_processes_and_hash_seeds() -> None:
    """blake2b, not hash(): vectors do not depend on PYTHONHASHSEED."""
    text = "Passwords must be at least 14 characters long."
    code = (
        "import hashlib, sys; from aidock.rag.embeddings import hash_embed;"
        "print(hashlib.sha256(hash_embed(sys.argv[1]).tobytes()).hexdigest())"
    )
    seed = "1" if os.environ.get("PYTHONHASHSEED") != "1" else "2"
    out = subprocess.run(
        [sys.executable, "-c", code, text],
        env={**os.environ, "PYTHONHASHSEED": seed},
        capture_output=True,
        text=True,
        check=True,
    )
    assert out.stdout.strip() == hashlib.sha256(hash_embed(text).tobytes()).hexdigest()


def test_similar_texts_score_higher_than_unrelated() -> None:
    query = hash_embed("How long are invoices kept in the archive?")
    related = hash_embed("Invoices are archived and retained for ten years.")
    unrelated = hash_embed("Business class flights need approval by the Management Board.")
    assert cosine(query, related) > cosine(query, unrelated) + 0.1


def test_inflected_forms_match() -> None:
    base = hash_embed("approve invoice")
    assert cosine(base, hash_embed("approved invoices")) > 0.9
    assert cosine(base, hash_embed("rejected reports")) < 0.2


def test_stopwords_only_text_still_has_a_direction() -> None:
    vec = hash_embed("the of and to")
    assert np.linalg.norm(vec) == pytest.approx(1.0, abs=1e-5)
    assert np.array_equal(vec, hash_embed(""))


def test_tokenize_and_stem() -> None:
    assert tokenize("Größe: 14 Zeichen, e-mail!") == ["größe", "14", "zeichen", "e", "mail"]
    assert terms("The invoices were approved") == ["invoic", "approv"]
    assert [stem(w) for w in ("policies", "processing", "stopped", "business", "2024")] == [
        "policy",
        "process",
        "stop",
        "business",
        "2024",
    ]


def test_embedding_function_protocol() -> None:
    ef = HashingEmbedder()
    out = ef(["one text", "another text"])
    assert len(out) == 2
    assert np.array_equal(np.asarray(out[0]), hash_embed("one text"))
    assert ef.name() == "aidock-hashing"
    assert ef.embedder_id == "hashing-v1-1024"
    assert not ef.is_legacy()
    assert ef.default_space() == "cosine"
    rebuilt = HashingEmbedder.build_from_config(ef.get_config())
    assert rebuilt.embedder_id == ef.embedder_id
