"""Deterministic generator of synthetic bank/insurer documents with labelled fields.

``generate(n, seed)`` returns ``n`` documents drawn from five categories (invoice,
reminder, claim, termination, statement). Invoices and reminders carry labelled field
spans (``invoice_number``, ``invoice_date``, ``due_date``, ``total_amount``, ``iban``);
the other categories carry none but are full of look-alikes (dates, amounts, IBANs,
reference numbers) that an extractor must learn to leave alone. Document ``i`` of a
seed depends only on ``(seed, i)``, so ``generate(10, s)`` is a prefix of
``generate(100, s)``. Nothing is downloaded: names, places and phrases are built in.

The categories are made to overlap the way real mail does, so that a categorizer has
something to learn and a benchmark something to measure:

- look-alike content: reminders quote the invoice (title and items), claims quote the
  repair invoice or a disputed debit, terminations carry a final statement of the
  account, invoices follow a termination or bill an insurance premium, supplier
  statements list invoices like a reminder, bank statements book premiums and fees;
- shared boilerplate (contact, privacy, portal sentences) in every category;
- short e-mail-like notes (``_NOTE_RATE``), some with a body that two or three
  categories share and no telling subject (``_WEAK_CUE_RATE``);
- page excerpts (``_EXCERPT_RATE``), OCR noise in words (dropped, doubled, swapped or
  look-alike characters, stray spaces), heavy on poor scans (``_POOR_SCAN_RATE``);
- a small share of label slips between look-alike categories (``_LABEL_NOISE``).

Labelled values are never noised, so span offsets stay exact. ``CORPUS_VERSION`` is
part of every document's random stream: changing the generator bumps it.
"""

from __future__ import annotations

import datetime as dt
import json
import random
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

CATEGORIES: tuple[str, ...] = ("invoice", "reminder", "claim", "termination", "statement")
FIELD_LABELS: tuple[str, ...] = (
    "invoice_number",
    "invoice_date",
    "due_date",
    "total_amount",
    "iban",
)
_CATEGORY_WEIGHTS = (0.3, 0.2, 0.18, 0.16, 0.16)
_EXCERPT_RATE = 0.12  # share of documents that are only a part of a letter
_NOTE_RATE = 0.12  # share of documents that are short e-mail-like notes
_WEAK_CUE_RATE = 0.4  # share of notes whose body two or three categories share
_POOR_SCAN_RATE = 0.12  # share of documents with heavy OCR noise
_LABEL_NOISE = 0.015  # share of drawn categories swapped with a look-alike (annotator slips)
# A label slip stays within documents of the same shape, so fields keep their meaning.
_CONFUSABLE = {"invoice": ("reminder",), "reminder": ("invoice",),
               "claim": ("termination", "statement"), "termination": ("claim", "statement"),
               "statement": ("claim", "termination")}  # fmt: skip
CORPUS_VERSION = "v2"


@dataclass(frozen=True, slots=True)
class Span:
    """A labelled character range ``text[start:end]``; ``confidence`` is 1.0 for gold."""

    label: str
    start: int
    end: int
    text: str
    confidence: float = 1.0

    @property
    def key(self) -> tuple[str, int, int]:
        """What span-level exact matching compares: label and offsets."""
        return (self.label, self.start, self.end)


@dataclass(frozen=True, slots=True)
class Document:
    """A generated document: its text, category and gold field spans."""

    id: str
    text: str
    category: str
    fields: tuple[Span, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (spans as dicts)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Document:
        """Inverse of ``to_dict``."""
        spans = tuple(Span(**s) for s in data.get("fields", ()))
        return cls(id=data["id"], text=data["text"], category=data["category"], fields=spans)


# ---------------------------------------------------------------------------- IBANs


# BBAN layouts: n digit, a upper-case letter, c alphanumeric (mostly digits).
IBAN_BBAN: dict[str, str] = {
    "DE": "n" * 18,
    "AT": "n" * 16,
    "CH": "n" * 5 + "c" * 12,
    "GB": "aaaa" + "n" * 14,
    "IE": "aaaa" + "n" * 14,
    "NL": "aaaa" + "n" * 10,
    "FR": "n" * 10 + "c" * 11 + "nn",
    "LU": "nnn" + "c" * 13,
    "BE": "n" * 12,
    "ES": "n" * 20,
    "IT": "a" + "n" * 10 + "c" * 12,
}
IBAN_LENGTHS: dict[str, int] = {cc: len(bban) + 4 for cc, bban in IBAN_BBAN.items()}
_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def _mod97(chars: str) -> int:
    """ISO 7064 mod 97-10 remainder of an alphanumeric string (A=10 ... Z=35)."""
    return int("".join(str(int(ch, 36)) for ch in chars)) % 97


def iban_is_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) has a known country, its length and checksum."""
    compact = iban.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]+", compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return _mod97(compact[4:] + compact[:4]) == 1


def make_iban(rng: random.Random, country: str) -> str:
    """A random IBAN of ``country`` with a valid mod-97 checksum (compact form)."""
    bban = "".join(_layout_char(rng, kind) for kind in IBAN_BBAN[country])
    check = 98 - _mod97(bban + country + "00")
    return f"{country}{check:02d}{bban}"


def _layout_char(rng: random.Random, kind: str) -> str:
    if kind == "n" or (kind == "c" and rng.random() < 0.85):
        return str(rng.randrange(10))
    return rng.choice(_UPPER)


def format_iban(iban: str, grouped: bool) -> str:
    """Paper format (groups of four) or the compact electronic format."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban


def _creditor_id(rng: random.Random, country: str) -> str:
    """SEPA creditor identifier: IBAN-looking, but not an IBAN."""
    national = "".join(str(rng.randrange(10)) for _ in range(11))
    check = 98 - _mod97(national + country + "00")
    return f"{country}{check:02d}ZZZ{national}"


def _rf_reference(rng: random.Random) -> str:
    """ISO 11649 structured creditor reference (RF..), grouped by four."""
    ref = "".join(str(rng.randrange(10)) for _ in range(rng.randint(8, 14)))
    check = 98 - _mod97(ref + "RF00")
    return format_iban(f"RF{check:02d}{ref}", grouped=True)


# ----------------------------------------------------------------- countries, style

_MONTHS = {
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
}


@dataclass(frozen=True)
class _Country:
    code: str
    lang: str
    currency: str
    vat: tuple[str, ...]
    cities: tuple[tuple[str, str], ...]  # (postcode pattern, city); 9 = digit, A = letter
    phone: str


_COUNTRIES: tuple[_Country, ...] = (
    _Country(
        "DE",
        "de",
        "EUR",
        ("19", "7"),
        (
            ("80331", "München"),
            ("20095", "Hamburg"),
            ("10115", "Berlin"),
            ("50667", "Köln"),
            ("60311", "Frankfurt am Main"),
            ("70173", "Stuttgart"),
        ),
        "+49",
    ),
    _Country(
        "AT",
        "de",
        "EUR",
        ("20", "10"),
        (("1010", "Wien"), ("8010", "Graz"), ("4020", "Linz"), ("5020", "Salzburg")),
        "+43",
    ),
    _Country(
        "CH",
        "de",
        "CHF",
        ("8.1", "2.6"),
        (("8001", "Zürich"), ("4051", "Basel"), ("3011", "Bern"), ("6003", "Luzern")),
        "+41",
    ),
    _Country(
        "GB",
        "en",
        "GBP",
        ("20", "5"),
        (
            ("EC2V 7HH", "London"),
            ("M1 1AE", "Manchester"),
            ("LS1 4DY", "Leeds"),
            ("BS1 6AG", "Bristol"),
        ),
        "+44",
    ),
    _Country(
        "IE", "en", "EUR", ("23", "13.5"), (("D02 X285", "Dublin"), ("T12 R6P8", "Cork")), "+353"
    ),
    _Country(
        "NL",
        "en",
        "EUR",
        ("21", "9"),
        (("1012 AB", "Amsterdam"), ("3011 AA", "Rotterdam"), ("3511 LX", "Utrecht")),
        "+31",
    ),
    _Country(
        "LU", "en", "EUR", ("17", "8"), (("L-1150", "Luxembourg"), ("L-4002", "Esch")), "+352"
    ),
    _Country("FR", "en", "EUR", ("20", "5.5"), (("75008", "Paris"), ("69002", "Lyon")), "+33"),
)
_COUNTRY_WEIGHTS = (0.3, 0.12, 0.12, 0.16, 0.08, 0.08, 0.07, 0.07)
_SYMBOLS = {"EUR": "€", "GBP": "£", "CHF": "CHF", "USD": "$"}


class _Style:
    """How one document writes dates and money."""

    def __init__(self, rng: random.Random, country: _Country) -> None:
        self.lang = country.lang
        self.currency = country.currency if rng.random() < 0.93 else "USD"
        if country.code == "CH":
            self.sep = rng.choice([("'", "."), ("'", "."), (".", ",")])
        elif self.lang == "de":
            self.sep = rng.choice([(".", ","), (".", ","), ("", ",")])
        else:
            self.sep = rng.choice([(",", "."), (",", "."), ("", "."), (".", ",")])
        self.money_form = rng.choice(["code_before", "code_after", "symbol_before", "symbol_after"])
        self.date_form = rng.choice(_DATE_FORMS[self.lang])
        self.alt_date_form = rng.choice(_DATE_FORMS[self.lang])

    def num(self, cents: int) -> str:
        """Amount without currency, e.g. ``1.234,56`` or ``1,234.56``."""
        sign = "-" if cents < 0 else ""
        whole, frac = divmod(abs(cents), 100)
        groups = f"{whole:,}".replace(",", self.sep[0])
        return f"{sign}{groups}{self.sep[1]}{frac:02d}"

    def money(self, cents: int, label: str | None = None) -> list[Piece]:
        """Amount with its currency as pieces; only the number carries ``label``."""
        number: Piece = (label, self.num(cents)) if label else self.num(cents)
        code, symbol = self.currency, _SYMBOLS[self.currency]
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
        return _format_date(day, self.alt_date_form if alt else self.date_form, self.lang)


_DATE_FORMS = {
    "en": ["d/m/Y", "Y-m-d", "d B Y", "B d, Y", "d b Y", "d.m.Y", "m/d/Y"],
    "de": ["d.m.Y", "d.m.Y", "d.m.y", "d. B Y", "Y-m-d"],
}


def _format_date(day: dt.date, form: str, lang: str) -> str:
    month = _MONTHS[lang][day.month - 1]
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


# ---------------------------------------------------------------------------- builder

Piece = str | tuple[str, str]  # plain text, or (label, value) for a labelled field
Arg = str | tuple[str, str] | list[Piece]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{4,}")
_OCR_CONFUSIONS = (
    ("e", "c"), ("c", "e"), ("l", "1"), ("i", "l"), ("o", "0"), ("rn", "m"), ("m", "rn"),
    ("u", "ü"), ("ü", "u"), ("ä", "a"), ("h", "b"), ("n", "h"), ("a", "o"), ("S", "5"),
)  # fmt: skip


class _Builder:
    """Appends text pieces, recording the offsets of labelled ones."""

    def __init__(self, rng: random.Random, noise: float) -> None:
        self._rng = rng
        self._noise = noise
        self._parts: list[str] = []
        self._length = 0
        self.spans: list[Span] = []

    def write(self, *pieces: Piece) -> None:
        for piece in pieces:
            if isinstance(piece, tuple):
                label, value = piece
                self.spans.append(Span(label, self._length, self._length + len(value), value))
                self._append(value)
            else:
                self._append(self._typos(piece) if self._noise else piece)

    def line(self, *pieces: Piece) -> None:
        self.write(*pieces, "\n")

    def linef(self, template: str, **args: Arg) -> None:
        """A line from ``template`` whose ``{name}`` placeholders take ``args``."""
        pieces: list[Piece] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(template):
            pieces.append(template[pos : match.start()])
            value = args[match.group(1)]
            pieces.extend(value if isinstance(value, list) else [value])
            pos = match.end()
        pieces.append(template[pos:])
        self.line(*pieces)

    def blank(self, lines: int = 1) -> None:
        self._append("\n" * lines)

    def row(self, cells: Sequence[Arg], widths: Sequence[int], right: Sequence[int] = ()) -> None:
        """A table row: cells padded to ``widths`` (indices in ``right`` right-aligned)."""
        pieces: list[Piece] = []
        for i, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            cell_pieces = cell if isinstance(cell, list) else [cell]
            size = sum(len(p[1]) if isinstance(p, tuple) else len(p) for p in cell_pieces)
            pad = " " * max(width - size, 1)
            if i in right:
                pieces.extend([pad, *cell_pieces])
            else:
                pieces.extend([*cell_pieces, pad if i < len(cells) - 1 else ""])
        self.line(*pieces)

    def text(self) -> str:
        return "".join(self._parts)

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def _typos(self, text: str) -> str:
        """OCR-ish noise in plain words only (labelled values are never touched).

        A word's first and last characters stay letters, so a noisy word never glues
        onto the labelled value next to it.
        """
        rng = self._rng

        def typo(match: re.Match[str]) -> str:
            word = match.group(0)
            if rng.random() >= self._noise:
                return word
            i = rng.randrange(1, len(word) - 1)
            kind = rng.randrange(7)
            if kind == 0:
                return word[:i] + word[i + 1 :]
            if kind == 1:
                return word[:i] + word[i] + word[i:]
            if kind == 2:
                return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
            if kind == 3:
                return word.upper()
            if kind == 4:  # split by a stray space
                return word[:i] + " " + word[i:]
            # a look-alike glyph: e/c, l/1, o/0, rn/m, ...
            middle = word[1:-1]
            for seen, read in rng.sample(_OCR_CONFUSIONS, len(_OCR_CONFUSIONS)):
                if seen in middle:
                    return word[0] + middle.replace(seen, read, 1) + word[-1]
            return word

        return _WORD.sub(typo, text)


# ------------------------------------------------------------------ names and numbers

_FIRST = (
    "Anna",
    "Lukas",
    "Maria",
    "Jonas",
    "Sophie",
    "Felix",
    "Laura",
    "Paul",
    "Emma",
    "David",
    "Claire",
    "Tom",
    "Sarah",
    "Oliver",
    "Hannah",
    "Peter",
    "Julia",
    "Martin",
    "Eva",
    "Daniel",
    "Chloe",
    "James",
    "Amelia",
    "Noah",
    "Lea",
    "Markus",
)
_LAST = (
    "Müller",
    "Schmidt",
    "Weber",
    "Fischer",
    "Wagner",
    "Becker",
    "Hoffmann",
    "Keller",
    "Brunner",
    "Huber",
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Walsh",
    "Murphy",
    "Janssen",
    "de Vries",
    "Dubois",
    "Martin",
    "Schneider",
    "Koch",
    "Richter",
)
_COMPANY_A = (
    "Alpen",
    "Nord",
    "Rhein",
    "Baltic",
    "Meridian",
    "Silver",
    "Oak",
    "Harbor",
    "Linden",
    "Falken",
    "Summit",
    "Blue",
    "River",
    "Stern",
    "Atlas",
    "Nova",
    "Cedar",
    "Granite",
    "Polar",
    "Orbit",
    "Aurora",
    "Vega",
    "Kestrel",
    "Beacon",
)
_STREETS = {
    "de": (
        "Hauptstraße",
        "Bahnhofstraße",
        "Lindenweg",
        "Gartenstraße",
        "Schillerstraße",
        "Marktplatz",
        "Industriestraße",
        "Seestrasse",
        "Kirchgasse",
        "Am Hafen",
    ),
    "en": (
        "High Street",
        "Station Road",
        "Church Lane",
        "Mill Road",
        "King Street",
        "Park Avenue",
        "Harbour Way",
        "Queens Road",
        "Main Street",
        "Rue de la Paix",
    ),
}
_COMPANY_B = {
    "de": (
        "Technik",
        "Werk",
        "Logistik",
        "Bau",
        "Gebäudeservice",
        "Druck",
        "IT-Systeme",
        "Beratung",
        "Büroservice",
        "Elektro",
        "Reinigung",
        "Software",
    ),
    "en": (
        "Tech",
        "Works",
        "Logistics",
        "Building Services",
        "Print",
        "IT Solutions",
        "Consulting",
        "Office Supplies",
        "Electrical",
        "Cleaning",
        "Software",
        "Facilities",
    ),
}
_LEGAL = {
    "DE": ("GmbH", "AG", "KG", "SE"),
    "AT": ("GmbH", "AG"),
    "CH": ("AG", "GmbH", "SA"),
    "GB": ("Ltd", "plc"),
    "IE": ("Ltd", "DAC"),
    "NL": ("B.V.", "N.V."),
    "LU": ("S.A.", "S.à r.l."),
    "FR": ("SAS", "SARL", "S.A."),
}


def _person(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"


def _company(rng: random.Random, country: _Country) -> str:
    return (
        f"{rng.choice(_COMPANY_A)} {rng.choice(_COMPANY_B[country.lang])} "
        f"{rng.choice(_LEGAL[country.code])}"
    )


def _insurer(rng: random.Random, country: _Country) -> str:
    base = rng.choice(_COMPANY_A)
    if country.lang == "de":
        return f"{base} {rng.choice(['Versicherung AG', 'Versicherungen', 'Assekuranz AG'])}"
    return f"{base} {rng.choice(['Insurance plc', 'Assurance S.A.', 'Insurance Ltd'])}"


def _bank_name(rng: random.Random, country: _Country) -> str:
    return f"{rng.choice(_COMPANY_A)} {rng.choice(['Bank', 'Bank AG', 'Banking plc', 'Bank S.A.'])}"


def _postcode(pattern: str, rng: random.Random) -> str:
    if rng.random() < 0.5:
        return pattern
    return "".join(
        str(rng.randrange(10)) if ch == "9" or (ch.isdigit() and i > 0) else ch
        for i, ch in enumerate(pattern)
    )


def _address(rng: random.Random, country: _Country) -> tuple[str, str]:
    code, city = rng.choice(country.cities)
    street = f"{rng.choice(_STREETS[country.lang])} {rng.randint(1, 180)}"
    if country.lang == "en" and rng.random() < 0.5:
        street = f"{rng.randint(1, 180)} {rng.choice(_STREETS['en'])}"
    return street, f"{_postcode(code, rng)} {city}"


def _phone(rng: random.Random, country: _Country) -> str:
    return f"{country.phone} {rng.randint(20, 899)} {rng.randint(100000, 9999999)}"


def _digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def _invoice_number(rng: random.Random, year: int) -> str:
    n = rng.randint(1, 99999)
    yy = year % 100
    return rng.choice(
        [
            f"INV-{year}-{n:05d}",
            f"RE-{year}-{n:04d}",
            f"{year}/{n:05d}",
            f"R{yy:02d}{n:06d}",
            _digits(rng, rng.randint(7, 9)),
            f"INV{n:06d}",
            f"{rng.choice(_UPPER)}{rng.choice(_UPPER)}-{n:05d}",
            f"F{yy}-{rng.randint(1, 12):02d}-{n:04d}",
            f"{yy}{rng.randint(1, 12):02d}-{n:04d}",
        ]
    )


def _other_number(rng: random.Random, year: int, kind: str) -> str:
    """Reference numbers that look like invoice numbers but are not."""
    n = rng.randint(1, 999999)
    if kind == "order":
        return rng.choice(
            [f"PO-{year}-{n % 100000:05d}", f"4500{n:06d}", f"ORD-{n}", _digits(rng, 8)]
        )
    if kind == "customer":
        return rng.choice([f"KD-{n}", f"C{n:06d}", _digits(rng, 6), f"CU-{n % 10000:04d}"])
    if kind == "delivery":
        return rng.choice([f"DN-{year}-{n % 10000:04d}", f"LS-{n:06d}", _digits(rng, 7)])
    if kind == "policy":
        return rng.choice(
            [
                f"{_digits(rng, 3)}.{_digits(rng, 3)}.{_digits(rng, 3)}",
                f"POL-{year % 100}-{n:06d}",
                f"VS-{n:07d}",
                _digits(rng, 9),
            ]
        )
    if kind == "claim":
        return rng.choice(
            [f"CL-{year}-{n:06d}", f"SCH-{year}-{n % 100000:05d}", f"{year}/{n:06d}", f"S{n:07d}"]
        )
    if kind == "contract":
        return rng.choice([f"V-{n:06d}", f"CT-{year}-{n % 10000:04d}", _digits(rng, 10)])
    if kind == "reminder":
        return rng.choice([f"M-{year}-{n % 10000:04d}", f"MA{n:06d}", f"R-{n % 1000:03d}"])
    raise ValueError(kind)


def _vat_id(rng: random.Random, country: _Country) -> str:
    return f"{country.code if country.code != 'GB' else 'GB'}{_digits(rng, 9)}"


def _bic(rng: random.Random, country: _Country) -> str:
    letters = "".join(rng.choice(_UPPER) for _ in range(4))
    loc = rng.choice(["FF", "MM", "2X", "22", "HH", "ZZ"])
    return f"{letters}{country.code}{loc}{rng.choice(['', 'XXX', '100'])}"


def _cents(rng: random.Random, low: float, high: float) -> int:
    return round(rng.uniform(low, high) * 100)


# -------------------------------------------------------------------------- phrases

_P: dict[str, dict[str, list[str]]] = {
    "inv_title": {
        "en": ["INVOICE", "Invoice", "Tax invoice", "Invoice", "Commercial invoice"],
        "de": ["RECHNUNG", "Rechnung", "Rechnung", "Honorarrechnung"],
    },
    "inv_no": {
        "en": ["Invoice No.", "Invoice no.", "Invoice number", "Invoice #", "Inv. No.", "Bill No."],
        "de": ["Rechnungsnummer", "Rechnungs-Nr.", "Rechnung Nr.", "Beleg-Nr."],
    },
    "inv_date": {
        "en": ["Invoice date", "Date of invoice", "Date of issue", "Date", "Issued on"],
        "de": ["Rechnungsdatum", "Datum", "Belegdatum", "Ausstellungsdatum"],
    },
    "due": {
        "en": ["Due date", "Payment due", "Due by", "Payable by"],
        "de": ["Fällig am", "Fälligkeitsdatum", "Zahlbar bis", "Zahlungsziel"],
    },
    "customer": {
        "en": ["Customer No.", "Customer number", "Client ID", "Account ref."],
        "de": ["Kundennummer", "Kunden-Nr.", "Ihre Kundennummer"],
    },
    "order": {
        "en": ["Order No.", "Your order", "PO number", "Purchase order"],
        "de": ["Bestellnummer", "Ihre Bestellung", "Auftrags-Nr.", "Bestell-Nr."],
    },
    "order_date": {"en": ["Order date", "Ordered on"], "de": ["Bestelldatum", "Auftragsdatum"]},
    "delivery_date": {
        "en": ["Delivery date", "Date of supply", "Service date"],
        "de": ["Lieferdatum", "Leistungsdatum"],
    },
    "delivery": {
        "en": ["Delivery note", "Dispatch note"],
        "de": ["Lieferschein", "Lieferschein-Nr."],
    },
    "subtotal": {
        "en": ["Subtotal", "Net amount", "Total net", "Net total", "Sum of items"],
        "de": ["Zwischensumme", "Nettobetrag", "Summe netto", "Gesamt netto"],
    },
    "vat": {
        "en": ["VAT {r}%", "plus VAT {r}%", "Tax {r}%", "Sales tax {r}%"],
        "de": ["MwSt. {r}%", "zzgl. {r}% USt.", "Umsatzsteuer {r}%", "USt {r}%"],
    },
    "total": {
        "en": [
            "Total",
            "Total amount",
            "Amount due",
            "Invoice total",
            "Grand total",
            "Total due",
            "Total incl. VAT",
            "Gross amount",
        ],
        "de": [
            "Gesamtbetrag",
            "Rechnungsbetrag",
            "Endbetrag",
            "Summe brutto",
            "Zu zahlen",
            "Gesamtsumme",
        ],
    },
    "shipping": {
        "en": ["Shipping", "Delivery charge", "Freight"],
        "de": ["Versandkosten", "Fracht", "Porto"],
    },
    "discount": {"en": ["Discount", "Loyalty discount"], "de": ["Rabatt", "Nachlass"]},
    "items_head": {
        "en": ["Pos|Description|Qty|Unit price|Amount"],
        "de": ["Pos|Bezeichnung|Menge|Einzelpreis|Betrag"],
    },
    "item": {
        "en": [
            "Consulting services",
            "Software licence (annual)",
            "Maintenance fee",
            "Office supplies",
            "Travel expenses",
            "Laptop 14in",
            "Cleaning services",
            "Printing of brochures",
            "Support hours",
            "Cloud hosting",
            "Training workshop",
            "Security audit",
            "Archive boxes",
            "Courier service",
            "Data migration",
        ],
        "de": [
            "Beratungsleistung",
            "Softwarelizenz (jährlich)",
            "Wartungspauschale",
            "Büromaterial",
            "Reisekosten",
            "Notebook 14 Zoll",
            "Unterhaltsreinigung",
            "Druck von Broschüren",
            "Supportstunden",
            "Cloud-Hosting",
            "Schulung",
            "Sicherheitsprüfung",
            "Archivkartons",
            "Kurierdienst",
            "Datenmigration",
        ],
    },
    "pay_due": {
        "en": [
            "Please transfer the invoice amount by {due} to the account below.",
            "Payment is due by {due}.",
            "Please pay within {days} days, i.e. by {due}, without deduction.",
            "Payable without deduction until {due}.",
        ],
        "de": [
            "Bitte überweisen Sie den Rechnungsbetrag bis zum {due}.",
            "Zahlbar ohne Abzug bis {due}.",
            "Bitte begleichen Sie den Betrag innerhalb von {days} Tagen bis {due}.",
        ],
    },
    "pay_terms": {
        "en": [
            "Payment terms: {days} days net.",
            "Payable within {days} days of receipt.",
            "Terms: net {days} days.",
        ],
        "de": [
            "Zahlungsbedingungen: {days} Tage netto.",
            "Zahlbar innerhalb von {days} Tagen nach Erhalt.",
        ],
    },
    "pay_iban": {
        "en": [
            "Bank details: {bank}, IBAN {iban}, BIC {bic}",
            "IBAN: {iban}   BIC: {bic}",
            "Please transfer to IBAN {iban} (BIC {bic}) quoting the invoice number.",
            "Account holder: {holder} | IBAN {iban} | BIC {bic}",
        ],
        "de": [
            "Bankverbindung: {bank}, IBAN {iban}, BIC {bic}",
            "IBAN: {iban}   BIC: {bic}",
            "Bitte überweisen Sie auf das Konto IBAN {iban} (BIC {bic}).",
            "Kontoinhaber: {holder} | IBAN {iban} | BIC {bic}",
        ],
    },
    "debit": {
        "en": [
            "The amount will be debited from your account {iban} on {date} "
            "(mandate reference {mref}, creditor ID {cid})."
        ],
        "de": [
            "Der Betrag wird am {date} von Ihrem Konto {iban} abgebucht "
            "(Mandatsreferenz {mref}, Gläubiger-ID {cid})."
        ],
    },
    "thanks": {
        "en": [
            "Thank you for your business.",
            "We appreciate your prompt payment.",
            "Thank you for your order.",
            "",
        ],
        "de": ["Vielen Dank für Ihren Auftrag.", "Wir danken für Ihr Vertrauen.", ""],
    },
    "dear": {
        "en": ["Dear {name},", "Dear Sir or Madam,", "Dear customer,"],
        "de": ["Sehr geehrte Damen und Herren,", "Sehr geehrte/r {name},", "Guten Tag {name},"],
    },
    "regards": {
        "en": ["Kind regards", "Yours sincerely", "Best regards"],
        "de": ["Mit freundlichen Grüßen", "Freundliche Grüße"],
    },
    "rem_title": {
        "en": [
            "Payment reminder",
            "REMINDER",
            "Second reminder",
            "Final reminder",
            "Overdue notice",
            "Friendly reminder",
            "Open items",
            "Your account",
        ],
        "de": [
            "Zahlungserinnerung",
            "1. Mahnung",
            "2. Mahnung",
            "Letzte Mahnung",
            "Mahnung",
            "Offene Posten",
            "Ihr Kundenkonto",
        ],
    },
    "generic": {
        "en": [
            "Please do not hesitate to contact us if you have any questions.",
            "Please quote your customer number in all correspondence.",
            "This letter was generated automatically and is valid without a signature.",
            "Information on how we process your data: see our privacy notice.",
            "Our office hours are Monday to Friday, 8:00 to 17:00.",
            "Please keep this document for your records.",
            "You can also view this document in our customer portal.",
        ],
        "de": [
            "Bei Fragen stehen wir Ihnen gerne zur Verfügung.",
            "Bitte geben Sie bei Rückfragen stets Ihre Kundennummer an.",
            "Dieses Schreiben wurde maschinell erstellt und ist ohne Unterschrift gültig.",
            "Hinweise zum Datenschutz finden Sie in unserer Datenschutzerklärung.",
            "Unsere Geschäftszeiten: Montag bis Freitag, 8:00 bis 17:00 Uhr.",
            "Bitte bewahren Sie dieses Dokument für Ihre Unterlagen auf.",
            "Sie finden dieses Dokument auch in unserem Kundenportal.",
        ],
    },
    "rem_no": {
        "en": ["Reminder no.", "Our ref.", "Dunning no."],
        "de": ["Mahnnummer", "Unser Zeichen", "Mahn-Nr."],
    },
    "rem_open": {
        "en": [
            "According to our records, our invoice no. {no} of {date} for {amount} "
            "is still unpaid.",
            "We have not yet received payment for invoice {no} dated {date} amounting to {amount}.",
            "Our invoice {no} of {date} over {amount} is now overdue.",
        ],
        "de": [
            "Leider konnten wir für unsere Rechnung Nr. {no} vom {date} über {amount} "
            "noch keinen Zahlungseingang feststellen.",
            "Unsere Rechnung {no} vom {date} in Höhe von {amount} ist noch offen.",
        ],
    },
    "rem_fee": {
        "en": ["Reminder fee", "Late payment fee", "Dunning charge"],
        "de": ["Mahngebühr", "Mahnkosten", "Verzugszinsen"],
    },
    "rem_total": {
        "en": ["Total now due", "Outstanding balance", "Amount to pay", "Total due"],
        "de": ["Offener Gesamtbetrag", "Zu zahlender Betrag", "Gesamtforderung"],
    },
    "rem_pay": {
        "en": [
            "Please transfer the outstanding amount by {due} at the latest.",
            "We kindly ask you to settle the amount no later than {due}.",
            "Please make the payment by {due}.",
        ],
        "de": [
            "Bitte überweisen Sie den offenen Betrag bis spätestens {due}.",
            "Wir bitten um Ausgleich bis zum {due}.",
        ],
    },
    "rem_ignore": {
        "en": [
            "If you have already paid, please disregard this letter.",
            "Should your payment have crossed with this letter, please ignore it.",
        ],
        "de": [
            "Sollten Sie bereits gezahlt haben, betrachten Sie dieses Schreiben "
            "bitte als gegenstandslos."
        ],
    },
    "rem_table": {
        "en": ["Invoice no.|Invoice date|Originally due|Open amount"],
        "de": ["Rechnung Nr.|Rechnungsdatum|Fällig seit|Offener Betrag"],
    },
}


def _p(rng: random.Random, key: str, lang: str) -> str:
    return rng.choice(_P[key][lang])


# ------------------------------------------------------------------------ templates


@dataclass
class _Ctx:
    """What all templates of one document share."""

    rng: random.Random
    b: _Builder
    country: _Country
    style: _Style
    lang: str
    today: dt.date

    def p(self, key: str) -> str:
        return _p(self.rng, key, self.lang)

    def date(self, day: dt.date, label: str | None = None, alt: bool = False) -> Piece:
        text = self.style.date(day, alt)
        return (label, text) if label else text


def _letterhead(c: _Ctx, sender: str) -> None:
    rng, b = c.rng, c.b
    street, city = _address(rng, c.country)
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
        b.line(" " * 40 + f"Tel. {_phone(rng, c.country)}")
    b.blank(rng.randint(1, 2))


def _recipient(c: _Ctx, name: str) -> None:
    street, city = _address(c.rng, c.country)
    for text in (name, street, city):
        c.b.line(text)
    c.b.blank()


def _place_date(c: _Ctx, day: dt.date, label: str | None = None) -> None:
    _, city = c.rng.choice(c.country.cities)
    c.b.line(" " * c.rng.choice([0, 30, 45]), f"{city}, ", c.date(day, label))


def _footer(c: _Ctx, company: str, iban: Piece | None, bic: str) -> None:
    rng, b = c.rng, c.b
    b.blank()
    b.line("-" * rng.choice([40, 60, 72]))
    street, city = _address(rng, c.country)
    vat = "VAT ID" if c.lang == "en" else "USt-IdNr."
    b.line(
        f"{company} · {street} · {city} · Tel. {_phone(rng, c.country)} · "
        f"{vat} {_vat_id(rng, c.country)}"
    )
    if rng.random() < 0.5:
        court = "Register court" if c.lang == "en" else "Registergericht"
        b.line(
            f"{court}: {rng.choice(c.country.cities)[1]} HRB {rng.randint(1000, 250000)} · "
            f"{'Managing director' if c.lang == 'en' else 'Geschäftsführer'}: {_person(rng)}"
        )
    if iban is not None:
        b.line(f"{_bank_name(rng, c.country)} · IBAN ", iban, f" · BIC {bic}")
    if rng.random() < 0.3:
        b.line(f"Page 1 of {rng.randint(1, 3)}" if c.lang == "en" else "Seite 1 von 1")


def _generic(c: _Ctx) -> None:
    """Boilerplate that letters of every category share (none, one or two sentences)."""
    for _ in range(c.rng.choice([0, 0, 1, 1, 2])):
        c.b.line(c.p("generic"))


def _header_fields(c: _Ctx, fields: list[tuple[str, Arg]]) -> None:
    """Key/value lines, or a table header with the values on the line below."""
    rng, b = c.rng, c.b
    rng.shuffle(fields)
    if rng.random() < 0.3 and len(fields) <= 4:
        widths = [max(len(k) + 3, 16) for k, _ in fields]
        b.row([k for k, _ in fields], widths)
        b.row([v for _, v in fields], widths)
    else:
        width = max(len(k) for k, _ in fields) + rng.choice([1, 2, 4])
        sep = rng.choice([":", ":", ""])
        indent = " " * rng.choice([0, 0, 40])
        for key, value in fields:
            b.line(
                indent,
                f"{key}{sep}".ljust(width + 1),
                *(value if isinstance(value, list) else [value]),
            )
    b.blank()


def _invoice(c: _Ctx) -> None:
    rng, b, lang = c.rng, c.b, c.lang
    company = _company(rng, c.country)
    inv_date = c.today - dt.timedelta(days=rng.randint(0, 5))
    days = rng.choice([7, 10, 14, 30])
    due = inv_date + dt.timedelta(days=days)
    inv_no = _invoice_number(rng, inv_date.year)
    payee_iban = make_iban(rng, c.country.code if rng.random() < 0.85 else "DE")
    iban_text = format_iban(payee_iban, grouped=rng.random() < 0.6)
    bic = _bic(rng, c.country)

    _letterhead(c, company)
    _recipient(c, rng.choice([_person(rng), _company(rng, c.country)]))
    letter_date = rng.random() < 0.35
    if letter_date:
        _place_date(c, inv_date, "invoice_date")
        b.blank()
    if rng.random() < 0.9:
        b.line(c.p("inv_title"))
        b.blank()
    fields: list[tuple[str, Arg]] = [(c.p("inv_no"), ("invoice_number", inv_no))]
    if not letter_date:
        fields.append((c.p("inv_date"), c.date(inv_date, "invoice_date")))
    if rng.random() < 0.7:
        fields.append((c.p("customer"), _other_number(rng, inv_date.year, "customer")))
    if rng.random() < 0.5:
        fields.append((c.p("order"), _other_number(rng, inv_date.year, "order")))
    if rng.random() < 0.4:
        delivered = inv_date - dt.timedelta(days=rng.randint(1, 20))
        fields.append((c.p("delivery_date"), c.date(delivered, alt=rng.random() < 0.3)))
    if rng.random() < 0.25:
        ordered = inv_date - dt.timedelta(days=rng.randint(10, 40))
        fields.append((c.p("order_date"), c.date(ordered)))
    if rng.random() < 0.2:
        fields.append((c.p("delivery"), _other_number(rng, inv_date.year, "delivery")))
    due_in_header = rng.random() < 0.3
    if due_in_header:
        fields.append((c.p("due"), c.date(due, "due_date")))
    _header_fields(c, fields)

    context = rng.random()
    if context < 0.12:  # the last invoice of a terminated contract
        b.linef(
            "Following the termination of your contract {no} with effect from {date}, we "
            "invoice the final period."
            if lang == "en"
            else "Nach der Kündigung Ihres Vertrags {no} zum {date} berechnen wir den letzten "
            "Abrechnungszeitraum.",
            no=_other_number(rng, inv_date.year, "contract"),
            date=c.date(inv_date - dt.timedelta(days=rng.randint(1, 20)), alt=True),
        )
        b.blank()
    elif context < 0.22:  # an insurer's premium invoice
        b.linef(
            "Premium for insurance policy {pol}, period {start} - {end}."
            if lang == "en"
            else "Beitrag für Versicherungsschein {pol}, Zeitraum {start} - {end}.",
            pol=_other_number(rng, inv_date.year, "policy"),
            start=c.date(inv_date.replace(day=1), alt=True),
            end=c.date(inv_date.replace(day=1) + dt.timedelta(days=364), alt=True),
        )
        b.blank()
    if rng.random() < 0.5:
        name = _person(rng)
        b.line(c.p("dear").format(name=name))
        b.line(
            rng.choice(
                ["we invoice the following services:", "for our services we charge as follows:"]
                if lang == "en"
                else [
                    "wir berechnen Ihnen folgende Leistungen:",
                    "für unsere Leistungen erlauben wir uns zu berechnen:",
                ]
            )
        )
        b.blank()
    net = _items(c)
    _totals(c, net)
    b.blank()

    direct_debit = rng.random() < 0.15
    if direct_debit:
        cust_iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.5)
        debit_day = inv_date + dt.timedelta(days=rng.randint(3, 10))
        b.linef(
            c.p("debit"),
            iban=cust_iban,
            date=c.date(debit_day),
            mref=f"MR-{_digits(rng, 8)}",
            cid=_creditor_id(rng, c.country.code),
        )
    elif not due_in_header and rng.random() < 0.7:
        b.linef(c.p("pay_due"), due=c.date(due, "due_date"), days=str(days))
    else:
        b.linef(c.p("pay_terms"), days=str(days))
    if rng.random() < 0.2:
        reference = "Payment reference" if lang == "en" else "Verwendungszweck"
        b.line(f"{reference}: {_rf_reference(rng)}")
    iban_in_body = rng.random() < 0.5
    if iban_in_body:
        b.linef(
            c.p("pay_iban"),
            bank=_bank_name(rng, c.country),
            iban=("iban", iban_text),
            bic=bic,
            holder=company,
        )
    if rng.random() < 0.15:
        b.line(
            "Reminder fees and default interest apply to late payments."
            if lang == "en"
            else "Bei Zahlungsverzug berechnen wir Mahngebühren und Verzugszinsen."
        )
    b.line(c.p("thanks"))
    _generic(c)
    if rng.random() < 0.5:
        b.blank()
        b.line(c.p("regards"))
        b.line(_person(rng))
    footer_iban: Piece | None = None if iban_in_body else ("iban", iban_text)
    if iban_in_body and rng.random() < 0.25:  # a second, unlabelled bank account
        footer_iban = format_iban(make_iban(rng, c.country.code), grouped=True)
    _footer(c, company, footer_iban, bic)


def _items(c: _Ctx) -> int:
    rng, b = c.rng, c.b
    head = c.p("items_head").split("|")
    widths = [5, 34, 6, 14, 14]
    b.row(head, widths, right=(3, 4))
    net = 0
    for pos in range(1, rng.randint(1, 6) + 1):
        qty = rng.choice([1, 1, 1, 2, 3, 5, 10, 12, 25])
        price = _cents(rng, 5, 2500 if qty < 5 else 200)
        amount = qty * price
        net += amount
        b.row(
            [str(pos), c.p("item"), str(qty), c.style.num(price), c.style.num(amount)],
            widths,
            right=(3, 4),
        )
    b.line("-" * 73)
    return net


def _totals(c: _Ctx, net: int) -> int:
    rng, b = c.rng, c.b
    width = rng.choice([40, 50, 58])
    rows: list[tuple[str, list[Piece]]] = []
    if rng.random() < 0.2:
        pct = rng.choice([2, 3, 5, 10])
        off = -round(net * pct / 100)
        rows.append((f"{c.p('discount')} {pct}%", c.style.money(off)))
        net += off
    if rng.random() < 0.2:
        ship = _cents(rng, 4, 60)
        rows.append((c.p("shipping"), c.style.money(ship)))
        net += ship
    rows.append((c.p("subtotal"), c.style.money(net)))
    rate = rng.choice(c.country.vat)
    vat = round(net * float(rate) / 100)
    rows.append((c.p("vat").format(r=rate), c.style.money(vat)))
    total = net + vat
    rows.append((c.p("total"), c.style.money(total, "total_amount")))
    for key, money in rows:
        size = sum(len(p[1]) if isinstance(p, tuple) else len(p) for p in money)
        b.line(" " * 30, key, " " * max(width - len(key) - size, 2), *money)
    return total


def _reminder(c: _Ctx) -> None:
    rng, b, lang = c.rng, c.b, c.lang
    company = _company(rng, c.country)
    inv_date = c.today - dt.timedelta(days=rng.randint(25, 90))
    orig_due = inv_date + dt.timedelta(days=rng.choice([14, 30]))
    letter = c.today
    new_due = letter + dt.timedelta(days=rng.choice([7, 10, 14]))
    inv_no = _invoice_number(rng, inv_date.year)
    iban_text = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    bic = _bic(rng, c.country)
    amount = _cents(rng, 30, 15000)
    fee = _cents(rng, 2, 15) if rng.random() < 0.5 else 0

    _letterhead(c, company)
    _recipient(c, rng.choice([_person(rng), _company(rng, c.country)]))
    _place_date(c, letter)
    b.blank()
    if rng.random() < 0.85:
        b.line(c.p("rem_title"))
    if rng.random() < 0.6:
        b.line(
            f"{c.p('rem_no')}: {_other_number(rng, letter.year, 'reminder')}   "
            f"{c.p('customer')}: {_other_number(rng, letter.year, 'customer')}"
        )
    b.blank()
    b.line(c.p("dear").format(name=_person(rng)))
    b.blank()
    amount_label = None if fee else "total_amount"
    if rng.random() < 0.6:
        b.linef(
            c.p("rem_open"),
            no=("invoice_number", inv_no),
            date=c.date(inv_date, "invoice_date"),
            amount=c.style.money(amount, amount_label),
        )
    else:
        b.line(
            rng.choice(
                ["The following item is still open:", "Please note the open item:"]
                if lang == "en"
                else ["Folgender Posten ist noch offen:"]
            )
        )
        b.blank()
        widths = [20, 18, 18, 16]
        b.row(c.p("rem_table").split("|"), widths)
        b.row(
            [
                ("invoice_number", inv_no),
                c.date(inv_date, "invoice_date"),
                c.date(orig_due),
                c.style.money(amount, amount_label),
            ],
            widths,
        )
    b.blank()
    if rng.random() < 0.35:  # quotes the invoice: its title and items
        b.line(
            rng.choice(["Copy of invoice", "INVOICE (copy)", "For reference, the invoiced items:"])
            if lang == "en"
            else rng.choice(["Rechnungskopie", "RECHNUNG (Kopie)",
                             "Zu Ihrer Information die berechneten Positionen:"])
        )  # fmt: skip
        _items(c)
        b.blank()
    if fee:
        width = 40
        for key, money in (
            (c.p("rem_fee"), c.style.money(fee)),
            (c.p("rem_total"), c.style.money(amount + fee, "total_amount")),
        ):
            size = sum(len(p[1]) if isinstance(p, tuple) else len(p) for p in money)
            b.line(" " * 20, key, " " * max(width - len(key) - size, 2), *money)
        b.blank()
    b.linef(c.p("rem_pay"), due=c.date(new_due, "due_date"))
    iban_in_body = rng.random() < 0.6
    if iban_in_body:
        b.linef(
            c.p("pay_iban"),
            bank=_bank_name(rng, c.country),
            iban=("iban", iban_text),
            bic=bic,
            holder=company,
        )
    b.line(c.p("rem_ignore"))
    _generic(c)
    b.blank()
    b.line(c.p("regards"))
    b.line(_person(rng))
    _footer(c, company, None if iban_in_body else ("iban", iban_text), bic)


def _claim(c: _Ctx) -> None:
    rng, b, lang = c.rng, c.b, c.lang
    insurer = _insurer(rng, c.country)
    loss = c.today - dt.timedelta(days=rng.randint(5, 60))
    reported = loss + dt.timedelta(days=rng.randint(1, 5))
    claim_no = _other_number(rng, loss.year, "claim")
    policy_no = _other_number(rng, loss.year, "policy")
    damage = _cents(rng, 300, 25000)
    deductible = rng.choice([15000, 25000, 50000, 100000])
    payout = max(damage - deductible, 0)
    customer = _person(rng)
    cust_iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    en = lang == "en"
    kind = rng.choice(
        ["water damage", "storm damage", "a burglary", "a car accident", "glass breakage", "a fire"]
        if en
        else [
            "Wasserschaden",
            "Sturmschaden",
            "Einbruchdiebstahl",
            "Verkehrsunfall",
            "Glasbruch",
            "Brandschaden",
        ]
    )
    if rng.random() < 0.6:  # insurer writes to the customer
        _letterhead(c, insurer)
        _recipient(c, customer)
        _place_date(c, c.today)
        b.blank()
        fields: list[tuple[str, Arg]] = [
            ("Claim no." if en else "Schadennummer", claim_no),
            ("Policy no." if en else "Versicherungsschein-Nr.", policy_no),
            ("Date of loss" if en else "Schadentag", c.date(loss)),
        ]
        if rng.random() < 0.5:
            fields.append(("Reported on" if en else "Gemeldet am", c.date(reported, alt=True)))
        _header_fields(c, fields)
        b.line(
            rng.choice(
                ["Settlement of your claim", "Your claim", "Claim decision"]
                if en
                else ["Regulierung Ihres Schadens", "Ihr Schadenfall", "Schadenregulierung"]
            )
        )
        b.blank()
        b.line(c.p("dear").format(name=customer))
        b.linef(
            "thank you for reporting {kind} on {date}."
            if en
            else "vielen Dank für Ihre Meldung ({kind}) vom {date}.",
            kind=kind,
            date=c.date(reported),
        )
        b.linef(
            "Our assessor estimated the damage at {damage}."
            if en
            else "Unser Gutachter hat den Schaden auf {damage} geschätzt.",
            damage=c.style.money(damage),
        )
        if rng.random() < 0.4:
            b.linef(
                "The repair invoice no. {no} of {date} over {amount} has been checked."
                if en
                else "Die Reparaturrechnung Nr. {no} vom {date} über {amount} wurde geprüft.",
                no=_invoice_number(rng, loss.year),
                date=c.date(reported),
                amount=c.style.money(damage),
            )
            if rng.random() < 0.5:
                b.line("Items of the invoice:" if en else "Positionen der Rechnung:")
                _items(c)
        b.linef(
            "After deduction of your deductible of {ded} we will transfer {pay} to your "
            "account {iban} within {n} working days."
            if en
            else "Nach Abzug Ihrer Selbstbeteiligung von {ded} überweisen wir {pay} auf Ihr Konto "
            "{iban} innerhalb von {n} Werktagen.",
            ded=c.style.money(deductible),
            pay=c.style.money(payout),
            iban=cust_iban,
            n=str(rng.randint(3, 10)),
        )
        if rng.random() < 0.5:
            b.line(
                "Please quote the claim number in all correspondence."
                if en
                else "Bitte geben Sie bei Rückfragen stets die Schadennummer an."
            )
        _generic(c)
        b.blank()
        b.line(c.p("regards"))
        b.line(f"{_person(rng)}, {'Claims department' if en else 'Schadenabteilung'}")
        _footer(
            c,
            insurer,
            format_iban(make_iban(rng, c.country.code), grouped=True)
            if rng.random() < 0.5
            else None,
            _bic(rng, c.country),
        )
    else:  # the customer reports a claim
        _letterhead(c, customer)
        _recipient(c, insurer)
        _place_date(c, reported)
        b.blank()
        b.linef(
            "Claim notification - policy no. {pol}"
            if en
            else "Schadenmeldung - Versicherungsschein-Nr. {pol}",
            pol=policy_no,
        )
        b.blank()
        b.line(c.p("dear").format(name="Sir or Madam"))
        b.linef(
            "I would like to report {kind} that occurred on {date}."
            if en
            else "hiermit melde ich einen Schaden ({kind}) vom {date}.",
            kind=kind,
            date=c.date(loss),
        )
        b.linef(
            "According to the cost estimate no. {no} the repair will cost {damage}."
            if en
            else "Laut Kostenvoranschlag Nr. {no} betragen die Reparaturkosten {damage}.",
            no=_other_number(rng, loss.year, "order"),
            damage=c.style.money(damage),
        )
        b.linef(
            "Please transfer the compensation to my account IBAN {iban}."
            if en
            else "Bitte überweisen Sie die Entschädigung auf mein Konto IBAN {iban}.",
            iban=cust_iban,
        )
        if rng.random() < 0.2:
            b.linef(
                "In addition, my account statement of {date} shows a debit of {amount} that I "
                "did not authorise; please include it in the claim."
                if en
                else "Außerdem zeigt mein Kontoauszug vom {date} eine Abbuchung über {amount}, die "
                "ich nicht veranlasst habe; bitte nehmen Sie sie in die Schadenmeldung auf.",
                date=c.date(reported),
                amount=c.style.money(_cents(rng, 20, 2000)),
            )
        if rng.random() < 0.25:
            b.linef(
                "The invoice of the workshop ({no}) is attached:"
                if en
                else "Die Rechnung der Werkstatt ({no}) liegt bei:",
                no=_invoice_number(rng, loss.year),
            )
            _items(c)
        b.line("Photos of the damage are attached." if en else "Fotos des Schadens liegen bei.")
        b.blank()
        b.line(c.p("regards"))
        b.line(customer)


def _termination(c: _Ctx) -> None:
    rng, b, lang = c.rng, c.b, c.lang
    en = lang == "en"
    company = rng.choice(
        [_insurer(rng, c.country), _bank_name(rng, c.country), _company(rng, c.country)]
    )
    customer = _person(rng)
    contract = _other_number(rng, c.today.year, rng.choice(["contract", "policy", "customer"]))
    effective = dt.date(c.today.year + (c.today.month > 9), (c.today.month + 2) % 12 + 1, 1)
    thing = rng.choice(
        [
            "contract",
            "insurance policy",
            "current account",
            "credit card agreement",
            "service agreement",
        ]
        if en
        else [
            "Vertrag",
            "Versicherungsvertrag",
            "Girokonto",
            "Kreditkartenvertrag",
            "Wartungsvertrag",
        ]
    )
    if rng.random() < 0.65:  # customer terminates
        _letterhead(c, customer)
        _recipient(c, company)
        _place_date(c, c.today)
        b.blank()
        b.linef(
            "Termination of my {thing} no. {no}" if en else "Kündigung {thing} Nr. {no}",
            thing=thing,
            no=contract,
        )
        b.blank()
        b.line(c.p("dear").format(name="Sir or Madam"))
        b.linef(
            rng.choice(
                [
                    "I hereby terminate my {thing} no. {no} with effect from {date}.",
                    "I hereby give notice to terminate the {thing} ({no}) as of {date}, or at the "
                    "next possible date.",
                ]
                if en
                else [
                    "hiermit kündige ich meinen {thing} Nr. {no} fristgerecht zum {date}.",
                    "hiermit kündige ich den {thing} ({no}) zum {date}, hilfsweise zum "
                    "nächstmöglichen Termin.",
                ]
            ),
            thing=thing,
            no=contract,
            date=c.date(effective),
        )
        if rng.random() < 0.6:
            b.linef(
                "Please refund any remaining credit of {amount} to my account {iban}."
                if en
                else "Bitte erstatten Sie das Restguthaben von {amount} auf mein Konto {iban}.",
                amount=c.style.money(_cents(rng, 5, 900)),
                iban=format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.5),
            )
        if rng.random() < 0.5:
            b.linef(
                "Please cancel the direct debit mandate {mref} as of {date}."
                if en
                else "Bitte widerrufen Sie das Lastschriftmandat {mref} zum {date}.",
                mref=f"MR-{_digits(rng, 8)}",
                date=c.date(effective, alt=True),
            )
        b.line(
            "Please confirm the termination and its effective date in writing."
            if en
            else "Bitte bestätigen Sie mir die Kündigung und den Beendigungszeitpunkt schriftlich."
        )
        if rng.random() < 0.25:
            b.line(
                "Please send me a final statement of my account and the last invoice."
                if en
                else "Bitte senden Sie mir einen letzten Kontoauszug und die Schlussrechnung."
            )
        b.blank()
        b.line(c.p("regards"))
        b.line(customer)
    else:  # the company terminates
        _letterhead(c, company)
        _recipient(c, customer)
        _place_date(c, c.today)
        b.blank()
        b.linef(
            "Notice of termination - {thing} {no}" if en else "Kündigung Ihres {thing}s {no}",
            thing=thing,
            no=contract,
        )
        b.blank()
        b.line(c.p("dear").format(name=customer))
        b.linef(
            "we hereby terminate the {thing} no. {no} with effect from {date}."
            if en
            else "hiermit kündigen wir den {thing} Nr. {no} mit Wirkung zum {date}.",
            thing=thing,
            no=contract,
            date=c.date(effective),
        )
        if rng.random() < 0.3:
            first = c.today - dt.timedelta(days=rng.randint(30, 60))
            b.linef(
                "Despite our reminders of {d1} and {d2}, premium invoice {no} over {amount} "
                "remains unpaid."
                if en
                else "Trotz unserer Mahnungen vom {d1} und {d2} ist die Beitragsrechnung {no} über "
                "{amount} weiterhin unbezahlt.",
                d1=c.date(first),
                d2=c.date(first + dt.timedelta(days=14)),
                no=_invoice_number(rng, first.year),
                amount=c.style.money(_cents(rng, 20, 900)),
            )
        if rng.random() < 0.6:
            b.linef(
                "Outstanding premiums of {amount} from {date} remain due."
                if en
                else "Der offene Beitrag von {amount} aus der Beitragsrechnung vom {date} "
                "bleibt bestehen.",
                amount=c.style.money(_cents(rng, 20, 3000)),
                date=c.date(c.today - dt.timedelta(days=rng.randint(20, 80))),
            )
        if rng.random() < 0.4:
            b.linef(
                "Any credit balance will be paid to your account {iban}."
                if en
                else "Ein eventuelles Guthaben überweisen wir auf Ihr Konto {iban}.",
                iban=format_iban(make_iban(rng, c.country.code), grouped=True),
            )
        b.line(
            "The notice period is three months."
            if en
            else "Die Kündigungsfrist beträgt drei Monate."
        )
        if rng.random() < 0.35:  # with the final statement of the account
            b.blank()
            b.line("Final statement of your account" if en else "Abschlussrechnung Ihres Kontos")
            end = c.today - dt.timedelta(days=1)
            _transactions(c, end - dt.timedelta(days=rng.randint(20, 60)), end, rng.randint(2, 6))
        _generic(c)
        b.blank()
        b.line(c.p("regards"))
        b.line(company)
        _footer(c, company, None, _bic(rng, c.country))


def _statement(c: _Ctx) -> None:
    rng, b, lang = c.rng, c.b, c.lang
    en = lang == "en"
    customer = _person(rng)
    end = c.today.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1)
    if rng.random() < 0.22:  # a supplier's statement of open items: reads like a reminder
        _open_items(c, customer, start, end)
        return
    bank = _bank_name(rng, c.country)
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.7)
    _letterhead(c, bank)
    _recipient(c, customer)
    title = rng.choice(
        ["Account statement", "Statement of account", "Credit card statement", "Account overview"]
        if en
        else ["Kontoauszug", "Kontoauszug", "Kreditkartenabrechnung", "Kontoübersicht"]
    )
    b.line(f"{title} {rng.randint(1, 12)}/{end.year}")
    fields: list[tuple[str, Arg]] = [
        ("IBAN", iban),
        ("Period" if en else "Zeitraum", [c.date(start), " - ", c.date(end)]),
        ("Statement date" if en else "Erstellt am", c.date(c.today)),
    ]
    if rng.random() < 0.5:
        fields.append(("Account holder" if en else "Kontoinhaber", customer))
    _header_fields(c, fields)
    _transactions(c, start, end, rng.randint(3, 12))
    b.blank()
    if rng.random() < 0.5:
        b.linef(
            "Overdraft limit: {limit}" if en else "Dispositionskredit: {limit}",
            limit=c.style.money(rng.choice([100000, 200000, 500000])),
        )
    b.line(
        "Please check this statement. Objections must be raised within six weeks."
        if en
        else "Bitte prüfen Sie diesen Auszug. Einwendungen sind innerhalb von sechs Wochen zu "
        "erheben."
    )
    _generic(c)
    _footer(c, bank, None, _bic(rng, c.country))


def _transactions(c: _Ctx, start: dt.date, end: dt.date, count: int) -> None:
    """Opening balance, ``count`` bookings and the closing balance of an account."""
    rng, b = c.rng, c.b
    en = c.lang == "en"
    balance = _cents(rng, -2000, 20000)
    width = 60
    b.line(
        f"{'Opening balance' if en else 'Alter Kontostand'}".ljust(width), *c.style.money(balance)
    )
    for _ in range(count):
        day = start + dt.timedelta(days=rng.randint(0, (end - start).days))
        amount = _cents(rng, 5, 3000) * rng.choice([-1, -1, -1, 1])
        balance += amount
        who = rng.choice([_company(rng, c.country), _person(rng), "ATM", "Card payment"])
        text = rng.choice(
            ["SEPA transfer", "Direct debit", "Card payment", "Salary", "Standing order"]
            if en
            else ["SEPA-Überweisung", "Lastschrift", "Kartenzahlung", "Gehalt", "Dauerauftrag"]
        )
        if rng.random() < 0.3:
            who += f" {rng.choice(['INV', 'Ref', 'RE'])} {_digits(rng, 6)}"
        elif rng.random() < 0.15:
            text = rng.choice(
                ["Reminder fee", "Insurance premium", "Claim payment", "Termination fee"]
                if en
                else ["Mahngebühr", "Versicherungsbeitrag", "Schadenzahlung", "Kündigungsgebühr"]
            )
        elif rng.random() < 0.15:
            who = f"{'Invoice' if en else 'Rechnung'} {_invoice_number(rng, day.year)}"
        b.line(
            f"{day.day:02d}.{day.month:02d}.  {text:<17} {who}"[:width].ljust(width),
            c.style.num(amount),
        )
    b.line(
        f"{'Closing balance' if en else 'Neuer Kontostand'}".ljust(width), *c.style.money(balance)
    )


def _open_items(c: _Ctx, customer: str, start: dt.date, end: dt.date) -> None:
    """A supplier's statement of account: its invoices and payments, no demand to pay."""
    rng, b = c.rng, c.b
    en = c.lang == "en"
    company = _company(rng, c.country)
    _letterhead(c, company)
    _recipient(c, customer)
    _place_date(c, c.today)
    b.blank()
    b.line(
        rng.choice(["Statement of account", "Customer account statement", "Account summary"])
        if en
        else rng.choice(["Kontoauszug Kundenkonto", "Saldenbestätigung", "Kontenübersicht"])
    )
    b.line(f"{c.p('customer')}: {_other_number(rng, end.year, 'customer')}")
    b.blank()
    b.line(
        f"for your records, the bookings on your customer account from {c.style.date(start)} "
        f"to {c.style.date(end)}:"
        if en
        else f"zu Ihrer Information die Buchungen auf Ihrem Kundenkonto vom {c.style.date(start)} "
        f"bis {c.style.date(end)}:"
    )
    b.blank()
    widths = [14, 20, 16]
    for _ in range(rng.randint(2, 6)):
        day = start + dt.timedelta(days=rng.randint(0, (end - start).days))
        kind = rng.choice(["Invoice", "Payment", "Credit note"] if en else
                          ["Rechnung", "Zahlung", "Gutschrift"])  # fmt: skip
        b.row([c.style.date(day), f"{kind} {_invoice_number(rng, day.year)}",
               c.style.money(_cents(rng, 20, 4000))], widths)  # fmt: skip
    b.blank()
    b.linef(
        "Balance in our favour: {amount}" if en else "Saldo zu unseren Gunsten: {amount}",
        amount=c.style.money(_cents(rng, 0, 3000)),
    )
    b.line(
        "No action is needed if this matches your records."
        if en
        else "Stimmt der Saldo mit Ihrer Buchhaltung überein, ist nichts weiter zu tun."
    )
    _generic(c)
    b.blank()
    b.line(c.p("regards"))
    b.line(_person(rng))


# ----------------------------------------------------------------------------- notes

# Short e-mail-like notes. Their bodies come from a category's own list or, for a weak
# cue, from a list that two or three categories share: those are hard by design.
_NOTE_SUBJECTS = {
    "invoice": {"en": ["Invoice", "Your invoice", "Billing"], "de": ["Rechnung", "Ihre Rechnung"]},
    "reminder": {
        "en": ["Payment reminder", "Overdue payment"],
        "de": ["Zahlungserinnerung", "Mahnung"],
    },
    "claim": {"en": ["Claim", "Damage report"], "de": ["Schadenmeldung", "Ihr Schaden"]},
    "termination": {"en": ["Cancellation", "Termination"], "de": ["Kündigung", "Vertragsende"]},
    "statement": {"en": ["Account statement", "Balance"], "de": ["Kontoauszug", "Kontostand"]},
    "": {
        "en": ["Your documents", "Information", "Re: your message", "Your account"],
        "de": ["Ihre Unterlagen", "Information", "AW: Ihre Nachricht", "Ihr Konto"],
    },
}
_NOTE_BODIES = {
    "invoice": {
        "en": [
            "please find attached our invoice {no} of {date} for {amount}. Please pay by {due} "
            "to IBAN {iban}.",
            "for the work done we charge {amount} (invoice {no}, {date}), payable by {due} to "
            "{iban}.",
        ],
        "de": [
            "anbei erhalten Sie unsere Rechnung {no} vom {date} über {amount}. Bitte zahlen Sie "
            "bis {due} auf IBAN {iban}.",
            "für die erbrachten Leistungen berechnen wir {amount} (Rechnung {no}, {date}), "
            "zahlbar bis {due} auf {iban}.",
        ],
    },
    "reminder": {
        "en": [
            "our invoice {no} of {date} for {amount} is still unpaid. Please pay by {due} to "
            "IBAN {iban}.",
            "we have not yet received {amount} for invoice {no} of {date}. Kindly transfer it by "
            "{due} to {iban}.",
        ],
        "de": [
            "unsere Rechnung {no} vom {date} über {amount} ist noch offen. Bitte zahlen Sie bis "
            "{due} auf IBAN {iban}.",
            "für Rechnung {no} vom {date} fehlt noch die Zahlung von {amount}. Bitte überweisen "
            "Sie bis {due} auf {iban}.",
        ],
    },
    "billing": {  # invoice or reminder
        "en": [
            "regarding document {no} of {date} over {amount}: please transfer the amount to "
            "{iban} by {due}.",
            "as discussed, {amount} for {no} ({date}) should reach {iban} by {due}.",
        ],
        "de": [
            "zu Beleg {no} vom {date} über {amount}: bitte überweisen Sie den Betrag bis {due} "
            "auf {iban}.",
            "wie besprochen bitten wir um Zahlung von {amount} zu {no} ({date}) bis {due} auf "
            "{iban}.",
        ],
    },
    "claim": {
        "en": [
            "regarding claim {ref} (policy {pol}): we have checked the repair invoice {inv} and "
            "will transfer {amount} to {iban} within a few days.",
            "I would like to report a damage of {date}. The repair will cost about {amount}; "
            "policy {pol}.",
        ],
        "de": [
            "zu Schaden {ref} (Vertrag {pol}): Die Reparaturrechnung {inv} wurde geprüft, wir "
            "überweisen {amount} auf {iban}.",
            "ich melde einen Schaden vom {date}. Die Reparatur kostet etwa {amount}; Vertrag "
            "{pol}.",
        ],
    },
    "termination": {
        "en": [
            "I hereby cancel my contract {ref} as of {date}. Please confirm.",
            "please close account {ref} as of {date} and transfer the remaining balance of "
            "{amount} to {iban}.",
        ],
        "de": [
            "hiermit kündige ich meinen Vertrag {ref} zum {date}. Bitte bestätigen Sie dies.",
            "bitte schließen Sie das Konto {ref} zum {date} und überweisen Sie das Restguthaben "
            "von {amount} auf {iban}.",
        ],
    },
    "statement": {
        "en": [
            "the balance of your account {iban} on {date} is {amount}. Details are in the online "
            "banking.",
            "your statement is ready: closing balance on {date} {amount}, account {iban}.",
        ],
        "de": [
            "der Kontostand Ihres Kontos {iban} am {date} beträgt {amount}. Details finden Sie "
            "im Online-Banking.",
            "Ihr Auszug liegt vor: Endsaldo am {date} {amount}, Konto {iban}.",
        ],
    },
    "account": {  # claim, termination or statement
        "en": [
            "regarding {ref} of {date}: the amount of {amount} will be transferred to your "
            "account {iban}.",
            "please see the enclosed document about {ref}. The amount of {amount} is booked as "
            "of {date} on {iban}.",
        ],
        "de": [
            "zu Vorgang {ref} vom {date}: Der Betrag von {amount} wird auf Ihr Konto {iban} "
            "überwiesen.",
            "anbei das Dokument zu {ref}. Der Betrag von {amount} wird zum {date} auf {iban} "
            "gebucht.",
        ],
    },
}
_NOTE_SHARED = {"invoice": "billing", "reminder": "billing", "claim": "account",
                "termination": "account", "statement": "account"}  # fmt: skip


def _note(c: _Ctx, category: str) -> None:
    """A short note; invoices and reminders carry their fields, labelled."""
    rng, b, lang = c.rng, c.b, c.lang
    sender, to = rng.choice([_company(rng, c.country), _person(rng)]), _person(rng)
    weak = rng.random() < _WEAK_CUE_RATE
    subjects = _NOTE_SUBJECTS["" if weak or rng.random() < 0.3 else category][lang]
    body = rng.choice(_NOTE_BODIES[_NOTE_SHARED[category] if weak else category][lang])
    if rng.random() < 0.7:
        b.line(f"{'From' if lang == 'en' else 'Von'}: {sender}")
        b.line(f"{'To' if lang == 'en' else 'An'}: {to}")
        b.line(f"{'Subject' if lang == 'en' else 'Betreff'}: {rng.choice(subjects)}")
    else:
        b.line(rng.choice(subjects))
    b.blank()
    b.line(c.p("dear").format(name=to))
    billing = category in ("invoice", "reminder")
    day = c.today - dt.timedelta(days=rng.randint(0, 5) if category == "invoice" else
                                 rng.randint(20, 60))  # fmt: skip
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    ref_kind = {"claim": "claim", "termination": "contract"}.get(category, "customer")
    b.linef(
        body,
        no=("invoice_number", _invoice_number(rng, day.year)),
        date=c.date(day, "invoice_date" if billing else None),
        due=c.date(c.today + dt.timedelta(days=rng.choice([7, 10, 14])), "due_date"),
        amount=c.style.money(_cents(rng, 20, 5000), "total_amount" if billing else None),
        iban=("iban", iban) if billing else iban,
        ref=_other_number(rng, day.year, ref_kind),
        pol=_other_number(rng, day.year, "policy"),
        inv=_invoice_number(rng, day.year),
    )
    if rng.random() < 0.4:
        _generic(c)
    b.blank()
    b.line(c.p("regards"))
    b.line(sender)


_TEMPLATES = {
    "invoice": _invoice,
    "reminder": _reminder,
    "claim": _claim,
    "termination": _termination,
    "statement": _statement,
}


# --------------------------------------------------------------------------- public


def generate_one(seed: int, index: int, category: str | None = None) -> Document:
    """Document ``index`` of ``seed`` (optionally forcing its ``category``).

    A drawn category is, rarely (``_LABEL_NOISE``), recorded as a look-alike one, as an
    annotator would slip; a forced ``category`` is always the recorded one.
    """
    rng = random.Random(f"aidock-corpus/{CORPUS_VERSION}:{seed}:{index}")
    drawn = rng.choices(CATEGORIES, weights=_CATEGORY_WEIGHTS)[0]
    slip = rng.random() < _LABEL_NOISE
    slipped = rng.choice(_CONFUSABLE[drawn])
    if category is not None and category not in _TEMPLATES:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    template = category or drawn
    label = category or (slipped if slip else drawn)
    country = rng.choices(_COUNTRIES, weights=_COUNTRY_WEIGHTS)[0]
    scan = rng.random()
    if scan < _POOR_SCAN_RATE:
        noise = rng.uniform(0.08, 0.2)
    else:
        noise = 0.0 if scan < 0.55 else rng.uniform(0.01, 0.06)
    today = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(4 * 365))
    ctx = _Ctx(rng, _Builder(rng, noise), country, _Style(rng, country), country.lang, today)
    if rng.random() < _NOTE_RATE:
        _note(ctx, template)
    else:
        _TEMPLATES[template](ctx)
    text, spans = ctx.b.text(), sorted(ctx.b.spans, key=lambda s: s.start)
    if rng.random() < _EXCERPT_RATE:
        text, spans = _excerpt(rng, text, spans)
    return Document(id=f"doc-{seed}-{index:06d}", text=text, category=label, fields=tuple(spans))


def _excerpt(rng: random.Random, text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """A run of whole lines, as when a scan is split into pages; spans cut off are dropped."""
    lines = text.splitlines(keepends=True)
    size = max(3, int(len(lines) * rng.uniform(0.35, 0.7)))
    first = rng.randint(0, max(len(lines) - size, 0))
    start = sum(len(line) for line in lines[:first])
    end = start + sum(len(line) for line in lines[first : first + size])
    kept = [
        Span(s.label, s.start - start, s.end - start, s.text)
        for s in spans
        if start <= s.start and s.end <= end
    ]
    return text[start:end], kept


def generate(n: int, seed: int = 0) -> list[Document]:
    """``n`` documents, deterministic in ``seed``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return [generate_one(seed, i) for i in range(n)]


def write_jsonl(docs: Iterable[Document], path: str | Path) -> Path:
    """Write documents as JSON lines (UTF-8)."""
    path = Path(path)
    with path.open("w", encoding="utf-8") as out:
        for doc in docs:
            out.write(json.dumps(doc.to_dict(), ensure_ascii=False) + "\n")
    return path


def read_jsonl(path: str | Path) -> list[Document]:
    """Read documents written by ``write_jsonl``."""
    with Path(path).open(encoding="utf-8") as src:
        return [Document.from_dict(json.loads(line)) for line in src if line.strip()]
