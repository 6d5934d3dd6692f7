"""What letters of every category share: the context of one document and its parts
(letterhead, recipient, place and date, key/value header, amount lines, footer)."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from aidock.ais.corpus.builder import Arg, Builder, Piece, width
from aidock.ais.corpus.names import address, bank_name, person, phone
from aidock.ais.corpus.numbers import vat_id
from aidock.ais.corpus.style import Style
from aidock.ais.corpus.tables import Country, Language

TO_WHOM = "Sir or Madam"  # the name in a salutation to nobody in particular, in both languages


@dataclass
class Ctx:
    """What all templates of one document share."""

    rng: random.Random
    b: Builder
    country: Country
    style: Style
    words: Language
    today: dt.date

    def pick(self, key: str) -> str:
        """One of the phrases ``key`` of the document's language."""
        return self.rng.choice(self.words.choose[key])

    def text(self, key: str) -> str:
        """The fixed sentence ``key`` of the document's language."""
        return self.words.text[key]

    def date(self, day: dt.date, label: str | None = None, alt: bool = False) -> Piece:
        text = self.style.date(day, alt)
        return (label, text) if label else text


def letterhead(c: Ctx, sender: str) -> None:
    rng, b = c.rng, c.b
    street, city = address(rng, c.country)
    form = rng.randrange(3)
    if form == 0:
        b.line(sender)
        b.line(street)
        b.line(city)
    elif form == 1:
        b.line(f"{sender} · {street} · {city}")
    else:
        b.line(" " * 40 + sender)
        b.line(" " * 40 + street)
        b.line(" " * 40 + city)
        b.line(" " * 40 + f"Tel. {phone(rng, c.country)}")
    b.blank(rng.randint(1, 2))


def recipient(c: Ctx, name: str) -> None:
    street, city = address(c.rng, c.country)
    for text in (name, street, city):
        c.b.line(text)
    c.b.blank()


def place_date(c: Ctx, day: dt.date, label: str | None = None) -> None:
    _, city = c.rng.choice(c.country.cities)
    c.b.line(" " * c.rng.choice([0, 30, 45]), f"{city}, ", c.date(day, label))


def footer(c: Ctx, company: str, iban: Piece | None, bic: str) -> None:
    """A rule, the sender's address line, maybe its register and bank, maybe a page count."""
    rng, b = c.rng, c.b
    b.blank()
    b.line("-" * rng.choice([40, 60, 72]))
    street, city = address(rng, c.country)
    b.line(
        f"{company} · {street} · {city} · Tel. {phone(rng, c.country)} · "
        f"{c.text('vat_id')} {vat_id(rng, c.country)}"
    )
    if rng.random() < 0.5:
        b.line(
            f"{c.text('register_court')}: {rng.choice(c.country.cities)[1]} "
            f"HRB {rng.randint(1000, 250000)} · {c.text('managing_director')}: {person(rng)}"
        )
    if iban is not None:
        b.line(f"{bank_name(rng)} · IBAN ", iban, f" · BIC {bic}")
    if rng.random() < 0.3:
        page = c.text("page_of")  # a page count is drawn only where the language writes one
        b.line(page.format(pages=rng.randint(1, 3)) if "{pages}" in page else page)


def generic(c: Ctx) -> None:
    """Boilerplate that letters of every category share (none, one or two sentences)."""
    for _ in range(c.rng.choice([0, 0, 1, 1, 2])):
        c.b.line(c.pick("generic"))


def closing(c: Ctx, signature: str | None = None) -> None:
    """A blank line, the regards and who signs (a person drawn after the regards if not given)."""
    c.b.blank()
    c.b.line(c.pick("regards"))
    c.b.line(person(c.rng) if signature is None else signature)


def header_fields(c: Ctx, fields: list[tuple[str, Arg]]) -> None:
    """Key/value lines, or a table header with the values on the line below."""
    rng, b = c.rng, c.b
    rng.shuffle(fields)
    if rng.random() < 0.3 and len(fields) <= 4:
        widths = [max(len(k) + 3, 16) for k, _ in fields]
        b.row([k for k, _ in fields], widths)
        b.row([v for _, v in fields], widths)
    else:
        key_width = max(len(k) for k, _ in fields) + rng.choice([1, 2, 4])
        sep = rng.choice([":", ":", ""])
        indent = " " * rng.choice([0, 0, 40])
        for key, value in fields:
            b.line(
                indent,
                f"{key}{sep}".ljust(key_width + 1),
                *(value if isinstance(value, list) else [value]),
            )
    b.blank()


def amount_lines(c: Ctx, rows: list[tuple[str, list[Piece]]], indent: int, line: int) -> None:
    """``key    amount`` lines, indented, the amounts ending near column ``indent + line``."""
    for key, money in rows:
        c.b.line(" " * indent, key, " " * max(line - len(key) - width(money), 2), *money)
