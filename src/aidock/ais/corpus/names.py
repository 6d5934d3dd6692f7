"""People, companies and addresses of a country, drawn from the tables."""

from __future__ import annotations

import random

from aidock.ais.corpus.tables import Country, common, language

_BANK_FORMS = ("Bank", "Bank AG", "Banking plc", "Bank S.A.")


def person(rng: random.Random) -> str:
    names = common()
    return f"{rng.choice(names.first_names)} {rng.choice(names.last_names)}"


def company(rng: random.Random, country: Country) -> str:
    return (
        f"{rng.choice(common().company_names)} "
        f"{rng.choice(language(country.language).company_kinds)} "
        f"{rng.choice(country.legal_forms)}"
    )


def insurer(rng: random.Random, country: Country) -> str:
    base = rng.choice(common().company_names)
    return f"{base} {rng.choice(language(country.language).insurer_suffixes)}"


def bank_name(rng: random.Random) -> str:
    return f"{rng.choice(common().company_names)} {rng.choice(_BANK_FORMS)}"


def _postcode(pattern: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return pattern
    return "".join(
        str(rng.randrange(10)) if ch == "9" or (ch.isdigit() and i > 0) else ch
        for i, ch in enumerate(pattern)
    )


def address(rng: random.Random, country: Country) -> tuple[str, str]:
    """Street line and postcode-and-city line."""
    code, city = rng.choice(country.cities)
    words = language(country.language)
    street = f"{rng.choice(words.streets)} {rng.randint(1, 180)}"
    if words.street_number_first and rng.random() < words.street_number_first:
        street = f"{rng.randint(1, 180)} {rng.choice(words.streets)}"
    return street, f"{_postcode(code, rng)} {city}"


def phone(rng: random.Random, country: Country) -> str:
    return f"{country.phone} {rng.randint(20, 899)} {rng.randint(100000, 9999999)}"
