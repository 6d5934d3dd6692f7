"""The generated corpus, pinned: a SHA-256 over every document of a few seeds and sizes.

A refactoring of the generator must not change a single document (text, category, span
labels, offsets and values). A deliberate change of the corpus bumps ``CORPUS_VERSION``
and these hashes together.
"""

from __future__ import annotations

import hashlib
import json
import random

import pytest

from aidock.ais.corpus import (
    CATEGORIES,
    CORPUS_VERSION,
    IBAN_BBAN,
    Document,
    format_iban,
    generate,
    generate_one,
    make_iban,
    write_jsonl,
)


def _digest(docs: list[Document]) -> str:
    """SHA-256 of one canonical JSON line per document (every field, keys sorted)."""
    lines = (json.dumps(d.to_dict(), sort_keys=True, ensure_ascii=False) for d in docs)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def test_corpus_version() -> None:
    assert CORPUS_VERSION == "v2"


@pytest.mark.parametrize(
    ("n", "seed", "sha256"),
    [
        (1000, 0, "fe9c25411428aa84874ff23d4d52e90f6cf35641fd5ca31adc86f56c8e03e7c4"),
        # the training corpus of `aidock bento build`
        (1200, 1, "cfb6a685fa1c2694ea1b6e7847ce0afb68aa44bed576d46cb4998466cc07537d"),
        # the held-out corpus of the benchmark
        (400, 2, "dd5221280d5570791c7cc4aa41cee9aa2d9a0f43643277ea374eb7b427888797"),
        (300, 7, "bd571d2afb36de8714ce6ba4f0ad95ee50c9cca6a71bbb71987730ee4c84cc52"),
        # the documents of bench/bento.py
        (32, 20261126, "ff623b518393a004cf4bf43773104d3db5f6e0a66be083429de7eabbde0a8ed7"),
    ],
)
def test_generate_is_pinned(n: int, seed: int, sha256: str) -> None:
    assert _digest(generate(n, seed)) == sha256


def test_forced_categories_are_pinned() -> None:
    docs = [generate_one(3, i, category=c) for c in CATEGORIES for i in range(60)]
    assert _digest(docs) == "d0de250de73a2562380695f7806ee9e789a1e8d87ecd785513db57c9938e9d70"


def test_ibans_are_pinned() -> None:
    rng = random.Random("pin")
    ibans = [make_iban(rng, cc) for cc in sorted(IBAN_BBAN) for _ in range(20)]
    text = "\n".join(f"{i} {format_iban(i, grouped=True)}" for i in ibans)
    digest = hashlib.sha256(text.encode()).hexdigest()
    assert digest == "1b8bbf929f8b6de7e072a4ca5bd1e80a071cfbad861ee970d45348c3f7d97761"


def test_jsonl_bytes_are_pinned(tmp_path) -> None:
    path = write_jsonl(generate(50, seed=5), tmp_path / "corpus.jsonl")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert digest == "904dfa39c8192d9c229886391648b6f0bd32b1f0861d6b69b63c24aa9834caae"
