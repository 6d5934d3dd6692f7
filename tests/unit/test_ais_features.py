"""Tokenizer, regex detectors and the token feature matrix."""

from __future__ import annotations

import numpy as np
import pytest

from aidock.ais.corpus import generate
from aidock.ais.features import (
    MONTHS,
    FeatureExtractor,
    find_dates,
    find_ibans,
    parse_amount,
    tokenize,
)


def test_tokens_keep_offsets_lines_and_columns() -> None:
    text = "Invoice No.: INV-2024-001\n  Total  €1.234,56\n"
    tokens = tokenize(text)
    assert [t.text for t in tokens] == [
        "Invoice", "No", ".", ":", "INV-2024-001", "Total", "€", "1.234,56",
    ]  # fmt: skip
    for tok in tokens:
        assert text[tok.start : tok.end] == tok.text
    total = tokens[5]
    assert (total.line, total.col) == (1, 2)


@pytest.mark.parametrize(
    "date",
    ["12.03.2024", "12.03.24", "2024-03-12", "12/03/2024", "12 March 2024", "March 12, 2024",
     "12 Mar 2024", "12. März 2024"],
)  # fmt: skip
def test_dates_found_whole(date: str) -> None:
    text = f"Date: {date}, thanks"
    start = text.index(date)
    assert find_dates(text) == [(start, start + len(date))]


def test_amounts_and_non_amounts() -> None:
    assert parse_amount("1.234,56") == pytest.approx(1234.56)
    assert parse_amount("1,234.56") == pytest.approx(1234.56)
    assert parse_amount("1'234.50") == pytest.approx(1234.5)
    assert parse_amount("99.00") == pytest.approx(99.0)
    assert parse_amount("2024") is None
    assert parse_amount("12.03.2024") is None


def test_ibans_found_and_checked() -> None:
    text = (
        "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX\n"
        "Creditor ID DE98ZZZ09999999999, ref RF18 5390 0754 7034 please\n"
        "GB82WEST12345698765432."
    )
    found = {text[s:e]: valid for s, e, valid in find_ibans(text)}
    assert found["DE89 3704 0044 0532 0130 00"] is True
    assert found["GB82WEST12345698765432"] is True
    assert found["DE98ZZZ09999999999"] is False
    assert found["RF18 5390 0754 7034"] is False


def test_feature_rows_are_deterministic_and_finite() -> None:
    doc = generate(3, seed=5)[0]
    fx = FeatureExtractor()
    a, b = fx.transform(doc.text), FeatureExtractor().transform(doc.text)
    assert a.matrix.shape == (len(a.candidates), fx.n_features)
    assert len(a.units) == len(a.candidates)
    assert np.array_equal(a.matrix, b.matrix)
    assert np.isfinite(a.matrix).all()
    for k, i in enumerate(a.candidates):
        text = a.tokens[i].text
        assert any(ch.isdigit() for ch in text) or text.lower() in MONTHS or a.units[k]


@pytest.mark.parametrize("text", ["", " ", "\n\n\n", "no digits here", "€€€ %%% ::"])
def test_texts_without_candidates(text: str) -> None:
    featurized = FeatureExtractor().transform(text)
    assert featurized.candidates == []
    assert featurized.matrix.shape == (0, FeatureExtractor().n_features)
