"""IBAN layouts and the mod 97 check shared by the features and the corpus."""

from __future__ import annotations

import random

import pytest

from aidock.ais.corpus import make_iban
from aidock.ais.formats import IBAN_BBAN, IBAN_LENGTHS, check_digits, format_iban, iban_is_valid


@pytest.mark.parametrize(
    ("iban", "valid"),
    [
        ("DE89 3704 0044 0532 0130 00", True),  # published example IBANs
        ("GB82 WEST 1234 5698 7654 32", True),
        ("CH93 0076 2011 6238 5295 7", True),
        ("de89370400440532013000", True),  # case and spaces do not matter
        ("DE89 3704 0044 0532 0130 01", False),  # one digit off
        ("DE89 3704 0044 0532 0130 0", False),  # one digit short
        ("DE98ZZZ09999999999", False),  # SEPA creditor id
        ("RF18 5390 0754 7034", False),  # structured creditor reference
        ("XX89370400440532013000", False),  # unknown country
        ("", False),
    ],
)
def test_iban_validation(iban: str, valid: bool) -> None:
    assert iban_is_valid(iban) is valid


def test_lengths_follow_the_layouts() -> None:
    assert IBAN_LENGTHS["DE"] == 22 and IBAN_LENGTHS["GB"] == 22 and IBAN_LENGTHS["CH"] == 21
    assert set(IBAN_LENGTHS) == set(IBAN_BBAN)


def test_check_digits_of_published_examples() -> None:
    assert check_digits("370400440532013000", "DE") == "89"
    assert check_digits("539007547034", "RF") == "18"


def test_format_iban_groups_by_four() -> None:
    assert format_iban("DE89370400440532013000", grouped=True) == "DE89 3704 0044 0532 0130 00"
    assert format_iban("DE89370400440532013000", grouped=False) == "DE89370400440532013000"


@pytest.mark.parametrize("country", sorted(IBAN_BBAN))
def test_made_ibans_are_valid_for_every_country(country: str) -> None:
    rng = random.Random(country)
    for _ in range(50):
        iban = make_iban(rng, country)
        assert iban_is_valid(iban)
        assert iban_is_valid(format_iban(iban, grouped=True))
