"""Names, places and phrases of the corpus, read from the JSON files in ``data/``.

``common.json`` holds what every language shares (first and last names, company names,
currency symbols, the countries with their cities, VAT rates and legal forms); ``en.json``
and ``de.json`` hold one language each: month names, date and number formats, streets,
company kinds and the phrases of the letters. A phrase under ``choose`` is one of several
(drawn with the document's random stream), one under ``text`` is a fixed sentence. Lists
keep their order: documents depend on it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any


@dataclass(frozen=True)
class Language:
    """The words of one language: formats, names and the phrases of the templates."""

    code: str
    months: list[str]
    date_forms: list[str]
    number_separators: list[list[str]]  # (thousands, decimal) pairs to draw from
    streets: list[str]
    street_number_first: float  # share of addresses written "12 High Street"
    company_kinds: list[str]
    insurer_suffixes: list[str]
    choose: dict[str, list[str]]
    text: dict[str, str]
    note_subjects: dict[str, list[str]]  # by category, "any" for a subject that tells nothing
    note_bodies: dict[str, list[str]]  # by category, "billing"/"account" for shared bodies


@dataclass(frozen=True)
class Country:
    """Where a document comes from: its language, currency, formats and places."""

    code: str
    language: str
    weight: float  # share of documents from this country
    currency: str
    vat_rates: list[str]
    phone: str
    legal_forms: list[str]
    cities: list[list[str]]  # (postcode pattern, city); 9 = digit, A = letter
    number_separators: list[list[str]] | None = None  # overrides the language's


@dataclass(frozen=True)
class Common:
    """What all languages share."""

    first_names: list[str]
    last_names: list[str]
    company_names: list[str]
    currency_symbols: dict[str, str]
    countries: list[Country]


def _read(name: str) -> dict[str, Any]:
    path = resources.files(__package__).joinpath("data", f"{name}.json")
    return json.loads(path.read_text(encoding="utf-8"))


@cache
def language(code: str) -> Language:
    """The tables of language ``code`` (``en`` or ``de``)."""
    return Language(code=code, **_read(code))


@cache
def common() -> Common:
    """The tables every language shares."""
    data = _read("common")
    data["countries"] = [Country(**country) for country in data["countries"]]
    return Common(**data)
