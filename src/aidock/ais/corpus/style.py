"""How one document writes dates and money: formats drawn per document, by country."""

from __future__ import annotations

import datetime as dt
import random

from aidock.ais.corpus.builder import Piece
from aidock.ais.corpus.tables import Country, Language, common


class Style:
    """How one document writes dates and money."""

    def __init__(self, rng: random.Random, country: Country, language: Language) -> None:
        self.language = language
        self.currency = country.currency if rng.random() < 0.93 else "USD"
        self.sep = rng.choice(country.number_separators or language.number_separators)
        self.money_form = rng.choice(["code_before", "code_after", "symbol_before", "symbol_after"])
        self.date_form = rng.choice(language.date_forms)
        self.alt_date_form = rng.choice(language.date_forms)

    def num(self, cents: int) -> str:
        """Amount without currency, e.g. ``1.234,56`` or ``1,234.56``."""
        sign = "-" if cents < 0 else ""
        whole, frac = divmod(abs(cents), 100)
        groups = f"{whole:,}".replace(",", self.sep[0])
        return f"{sign}{groups}{self.sep[1]}{frac:02d}"

    def money(self, cents: int, label: str | None = None) -> list[Piece]:
        """Amount with its currency as pieces; only the number carries ``label``."""
        number: Piece = (label, self.num(cents)) if label else self.num(cents)
        code, symbol = self.currency, common().currency_symbols[self.currency]
        form = self.money_form
        if form == "code_before":
            return [f"{code} ", number]
        if form == "code_after":
            return [number, f" {code}"]
        if form == "symbol_before":
            return [symbol if len(symbol) == 1 else f"{symbol} ", number]
        return [number, f" {symbol}"]

    def date(self, day: dt.date, alt: bool = False) -> str:
        """A date in this document's (or its alternative) format."""
        form = self.alt_date_form if alt else self.date_form
        return format_date(day, form, self.language.months)


def format_date(day: dt.date, form: str, months: list[str]) -> str:
    """``day`` in ``form`` (``d.m.Y``, ``B d, Y``, ...), month names from ``months``."""
    month = months[day.month - 1]
    return {
        "d/m/Y": f"{day.day:02d}/{day.month:02d}/{day.year}",
        "m/d/Y": f"{day.month:02d}/{day.day:02d}/{day.year}",
        "Y-m-d": day.isoformat(),
        "d B Y": f"{day.day} {month} {day.year}",
        "B d, Y": f"{month} {day.day}, {day.year}",
        "d b Y": f"{day.day} {month[:3]} {day.year}",
        "d.m.Y": f"{day.day:02d}.{day.month:02d}.{day.year}",
        "d.m.y": f"{day.day:02d}.{day.month:02d}.{day.year % 100:02d}",
        "d. B Y": f"{day.day}. {month} {day.year}",
    }[form]
