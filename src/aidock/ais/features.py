"""Offset-keeping tokenizer, regex detectors and per-token features for extraction.

The extractor classifies *candidate* tokens only: tokens with a digit, month names and
the groups of IBAN-like strings. Everything else is context. Each candidate gets a
fixed-length dense vector: token shape and regex classes (date, amount, IBAN with
checksum validity, id-like), document-level ranks (largest amount, first/last date),
position, hashed bags of context words (left/right window on the line, the line's
leading words, the words above it in the previous line, the previous line) and
document keyword flags. Hashing uses CRC32, so vectors are stable across processes.
"""

from __future__ import annotations

import math
import re
import zlib
from bisect import bisect_right
from dataclasses import dataclass
from functools import lru_cache
from itertools import pairwise

import numpy as np

from aidock.ais.formats import IBAN_LENGTHS, iban_is_valid

FEATURES_VERSION = "tokfeat/v1"

TOKEN_RE = re.compile(r"[^\W_]+(?:['.,/\-][^\W_]+)*|\S")

_MONTH_NAMES = (
    "january february march april may june july august september october november december "
    "januar februar märz mai juni juli oktober dezember "
    "jan feb mar apr jun jul aug sep sept oct nov dec mär okt dez"
)
MONTHS: frozenset[str] = frozenset(_MONTH_NAMES.split())
_MONTH_ALT = "|".join(sorted(MONTHS, key=len, reverse=True))
DATE_RE = re.compile(
    r"(?<![\w.,/-])(?:"
    r"\d{1,2}[./-]\d{1,2}[./-](?:\d{4}|\d{2})"
    r"|\d{4}-\d{2}-\d{2}"
    rf"|\d{{1,2}}\.? (?:{_MONTH_ALT})\.? \d{{4}}"
    rf"|(?:{_MONTH_ALT})\.? \d{{1,2}},? \d{{4}}"
    r")(?![\w/-]|[.,]\d)",
    re.IGNORECASE,
)
AMOUNT_RE = re.compile(r"\d{1,3}(?:[.,']\d{3})+[.,]\d{2}|\d+[.,]\d{2}")
IBAN_CANDIDATE_RE = re.compile(r"\b([A-Z]{2})(\d{2})((?: ?[A-Z0-9]){8,32})")
ID_RE = re.compile(r"(?=[A-Z0-9/-]*\d)(?:[A-Z]{1,4}[-/]?)?\d[\d/-]{3,}[A-Z0-9]*")
_CURRENCIES = frozenset({"€", "$", "£", "eur", "chf", "gbp", "usd", "fr"})
_CONTEXT_SYMBOLS = frozenset(":#%€$£/()-|·")
DOC_KEYWORDS: tuple[str, ...] = (
    "invoice", "rechnung", "reminder", "mahnung", "erinnerung", "overdue", "outstanding",
    "offen", "claim", "schaden", "damage", "terminat", "kündig", "statement", "kontoauszug",
    "balance", "kontostand", "policy", "versicherung", "insur", "vat", "mwst", "ust",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Token:
    """A token with its character offsets, line number and column."""

    text: str
    start: int
    end: int
    line: int
    col: int


@dataclass(frozen=True, slots=True)
class Featurized:
    """A text's tokens, its candidate token indices and one feature row per candidate.

    ``units[k]`` names the multi-token unit (a date or an IBAN-like string) candidate
    ``k`` belongs to, so that a decoder can give all its tokens one label.
    """

    tokens: list[Token]
    candidates: list[int]
    units: list[tuple[str, int] | None]
    matrix: np.ndarray


def tokenize(text: str) -> list[Token]:
    """Words (with inner ``.,/-'``), and every other non-space character on its own."""
    line_starts = [0] + [m.end() for m in re.finditer("\n", text)]
    tokens = []
    for m in TOKEN_RE.finditer(text):
        line = bisect_right(line_starts, m.start()) - 1
        tokens.append(Token(m.group(), m.start(), m.end(), line, m.start() - line_starts[line]))
    return tokens


def find_dates(text: str) -> list[tuple[int, int]]:
    """Character ranges of date-like strings, in order."""
    return [(m.start(), m.end()) for m in DATE_RE.finditer(text)]


def parse_amount(token: str) -> float | None:
    """The value of an amount-like token (``1.234,56`` -> 1234.56), else None."""
    if not AMOUNT_RE.fullmatch(token):
        return None
    digits = re.sub(r"[.,']", "", token)
    return int(digits) / 100


def find_ibans(text: str) -> list[tuple[int, int, bool]]:
    """Ranges of IBAN-like strings with their validity (country length and mod 97)."""
    found = []
    for m in IBAN_CANDIDATE_RE.finditer(text):
        start, matched = m.start(), m.group(0)
        chars = [i for i, ch in enumerate(matched) if ch != " "]
        length = IBAN_LENGTHS.get(m.group(1))
        if length and len(chars) >= length:
            end = start + chars[length - 1] + 1
            if end >= len(text) or not text[end].isalnum():
                found.append((start, end, iban_is_valid(text[start:end])))
                continue
        end = m.end()
        while end < len(text) and text[end].isalnum():  # stopped inside a word: back off
            cut = text.rfind(" ", start, end)
            if cut <= start:
                break
            end = cut
        found.append((start, end, False))
    return found


@lru_cache(maxsize=65536)
def _bucket(namespace: str, word: str, size: int) -> int:
    return zlib.crc32(f"{namespace}\x00{word}".encode()) % size


def _shape(text: str) -> str:
    shape = re.sub(r"[A-ZÄÖÜ]", "X", text)
    shape = re.sub(r"[a-zäöüß]", "x", shape)
    shape = re.sub(r"\d", "d", shape)
    return re.sub(r"(.)\1{2,}", r"\1\1", shape)


def _context_word(text: str) -> str | None:
    """How a token counts as context: lower-cased word, symbol, ``<num>`` or nothing."""
    if any(ch.isdigit() for ch in text):
        return "<num>"
    if any(ch.isalpha() for ch in text):
        return text.lower()
    return text if text in _CONTEXT_SYMBOLS else None


_SCALARS = (
    "len", "digit_frac", "alpha_frac", "all_digits", "n_digits", "has_dot", "has_comma",
    "has_dash", "has_slash", "has_apos", "has_upper", "has_lower", "is_month", "is_year",
    "in_date", "date_order", "first_date", "last_date", "n_dates", "date_start",
    "amount", "amount_log", "amount_rank", "amount_max", "amount_ratio", "n_amounts",
    "amount_same", "iban_like", "iban_valid", "iban_group", "iban_order", "iban_last",
    "n_valid_ibans", "id_like", "long_digits",
    "cur_before", "cur_after", "pct_after", "colon_before", "line_rel", "line_abs",
    "line_from_end", "tok_rel", "col", "first_in_line", "last_in_line", "line_tokens",
    "line_candidates", "indented", "doc_tokens", "repeats",
)  # fmt: skip
_BAGS = (
    ("left", 96), ("near", 64), ("right", 48), ("start", 48), ("above", 64), ("prev", 32),
    ("shape", 24),
)  # fmt: skip


class FeatureExtractor:
    """Candidate tokens of a text and their dense feature matrix."""

    version = FEATURES_VERSION

    def __init__(self, left_window: int = 5, right_window: int = 3) -> None:
        self.left_window = left_window
        self.right_window = right_window
        self.names: list[str] = list(_SCALARS) + [f"doc:{k}" for k in DOC_KEYWORDS]
        self._offsets: dict[str, int] = {}
        for bag, size in _BAGS:
            self._offsets[bag] = len(self.names)
            self.names += [f"{bag}#{i}" for i in range(size)]
        self._sizes = dict(_BAGS)

    @property
    def n_features(self) -> int:
        return len(self.names)

    def transform(self, text: str) -> Featurized:
        """Tokens, the candidates among them, their units and feature rows."""
        tokens = tokenize(text)
        doc = _DocInfo(text, tokens)
        rows = np.zeros((len(doc.candidates), self.n_features), dtype=np.float32)
        units: list[tuple[str, int] | None] = []
        for row, index in enumerate(doc.candidates):
            self._fill(rows[row], doc, index)
            if index in doc.date_of:
                units.append(("date", doc.date_of[index][0]))
            elif index in doc.iban_of:
                units.append(("iban", doc.iban_of[index][2]))
            else:
                units.append(None)
        return Featurized(tokens, doc.candidates, units, rows)

    def _fill(self, row: np.ndarray, doc: _DocInfo, i: int) -> None:
        tok = doc.tokens[i]
        text = tok.text
        n = len(text)
        digits = sum(ch.isdigit() for ch in text)
        alpha = sum(ch.isalpha() for ch in text)
        line = doc.lines[tok.line]
        pos_in_line = i - line[0]
        prev_text = doc.tokens[i - 1].text.lower() if i > 0 else ""
        next_text = doc.tokens[i + 1].text.lower() if i + 1 < len(doc.tokens) else ""
        same_line_prev = i > 0 and doc.tokens[i - 1].line == tok.line
        same_line_next = i + 1 < len(doc.tokens) and doc.tokens[i + 1].line == tok.line
        amount = doc.amounts.get(i)
        date = doc.date_of.get(i)
        iban = doc.iban_of.get(i)
        values = [
            n / 10, digits / n, alpha / n, float(text.isdigit()), digits / 10,
            float("." in text), float("," in text), float("-" in text), float("/" in text),
            float("'" in text), float(any(ch.isupper() for ch in text)),
            float(any(ch.islower() for ch in text)), float(text.lower() in MONTHS),
            float(n == 4 and text.isdigit() and text[:2] in ("19", "20")),
            float(date is not None),
            date[0] / max(len(doc.dates) - 1, 1) if date else -1.0,
            float(date is not None and date[0] == 0),
            float(date is not None and date[0] == len(doc.dates) - 1),
            len(doc.dates) / 10, float(date is not None and date[1]),
            float(amount is not None),
            math.log10(1 + amount) if amount is not None else -1.0,
            doc.amount_rank[i] if amount is not None else -1.0,
            float(amount is not None and amount == doc.max_amount),
            amount / doc.max_amount if amount is not None and doc.max_amount else -1.0,
            len(doc.amounts) / 10,
            doc.amount_counts[amount] if amount is not None else 0.0,
            float(iban is not None), float(iban is not None and iban[0]),
            iban[1] if iban is not None else -1.0,
            iban[2] / max(doc.n_ibans - 1, 1) if iban is not None else -1.0,
            float(iban is not None and iban[2] == doc.n_ibans - 1), doc.n_valid_ibans / 5,
            float(date is None and amount is None and bool(ID_RE.fullmatch(text))),
            float(text.isdigit() and n >= 6),
            float(same_line_prev and prev_text in _CURRENCIES),
            float(same_line_next and next_text in _CURRENCIES),
            float(same_line_next and next_text == "%"),
            float(same_line_prev and prev_text == ":"),
            tok.line / max(doc.n_lines - 1, 1), tok.line / 50, (doc.n_lines - tok.line) / 50,
            pos_in_line / max(line[1] - line[0], 1), tok.col / 80, float(pos_in_line == 0),
            float(i == line[1] - 1), (line[1] - line[0]) / 10, doc.line_candidates[tok.line],
            float(doc.indent[tok.line] >= 20), len(doc.tokens) / 500, doc.repeats[text] - 1,
            *doc.flags,
        ]  # fmt: skip
        row[: len(values)] = values
        self._bag(row, "shape", [_shape(text)])
        left = range(max(line[0], i - self.left_window), i)
        self._bag(row, "left", [doc.words[j] for j in left])
        self._bag(row, "near", doc.nearest_words(i, self.left_window))
        right = range(i + 1, min(line[1], i + 1 + self.right_window))
        self._bag(row, "right", [doc.words[j] for j in right])
        self._bag(row, "start", [doc.words[j] for j in range(line[0], min(line[0] + 3, i))])
        self._bag(row, "above", doc.above(i))
        self._bag(row, "prev", doc.previous_line_words(tok.line))

    def _bag(self, row: np.ndarray, bag: str, words: list[str | None]) -> None:
        offset, size = self._offsets[bag], self._sizes[bag]
        for word in words:
            if word is not None:
                row[offset + _bucket(bag, word, size)] = 1.0


class _DocInfo:
    """Per-document facts shared by the rows of one text."""

    def __init__(self, text: str, tokens: list[Token]) -> None:
        self.tokens = tokens
        self._starts = [t.start for t in tokens]
        self.words = [_context_word(t.text) for t in tokens]
        self.n_lines = text.count("\n") + 1
        self.lines: dict[int, tuple[int, int]] = {}
        for index, tok in enumerate(tokens):
            first, _ = self.lines.get(tok.line, (index, index))
            self.lines[tok.line] = (first, index + 1)
        self.indent = {number: tokens[first].col for number, (first, _) in self.lines.items()}
        self.date_of = self._cover(find_dates(text))
        self.dates = sorted({d for d, _ in self.date_of.values()})
        self.iban_of: dict[int, tuple[bool, float, int]] = {}
        ibans = find_ibans(text)
        for number, (start, end, valid) in enumerate(ibans):
            inside = self._inside(start, end)
            for k, i in enumerate(inside):
                self.iban_of[i] = (valid, k / max(len(inside) - 1, 1), number)
        self.n_ibans = len(ibans)
        self.unit_columns = self._unit_columns()
        self.n_valid_ibans = sum(valid for _, _, valid in ibans)
        self.amounts: dict[int, float] = {}
        for i, tok in enumerate(tokens):
            value = parse_amount(tok.text)
            if value is not None and i not in self.date_of:
                self.amounts[i] = value
        ordered = sorted(set(self.amounts.values()), reverse=True)
        rank = {v: r / max(len(ordered) - 1, 1) for r, v in enumerate(ordered)}
        self.amount_rank = {i: rank[v] for i, v in self.amounts.items()}
        self.max_amount = ordered[0] if ordered else 0.0
        self.amount_counts: dict[float, float] = {}
        for value in self.amounts.values():
            self.amount_counts[value] = self.amount_counts.get(value, 0.0) + 1.0
        self.repeats: dict[str, int] = {}
        for tok in tokens:
            self.repeats[tok.text] = self.repeats.get(tok.text, 0) + 1
        self.candidates = [
            i for i, t in enumerate(tokens)
            if i in self.iban_of or any(ch.isdigit() for ch in t.text)
            or t.text.lower() in MONTHS
        ]  # fmt: skip
        self.line_candidates: dict[int, float] = {}
        for i in self.candidates:
            line = tokens[i].line
            self.line_candidates[line] = self.line_candidates.get(line, 0.0) + 0.1
        lowered = text.lower()
        self.flags = [float(k in lowered) for k in DOC_KEYWORDS]
        self._previous = self._previous_lines()

    def _inside(self, start: int, end: int) -> list[int]:
        """Indices of the tokens lying within ``[start, end)``."""
        i = max(bisect_right(self._starts, start) - 1, 0)
        found = []
        while i < len(self.tokens) and self.tokens[i].start < end:
            if self.tokens[i].start >= start and self.tokens[i].end <= end:
                found.append(i)
            i += 1
        return found

    def _cover(self, ranges: list[tuple[int, int]]) -> dict[int, tuple[int, bool]]:
        """Token index -> (range number, token starts the range) for tokens in ranges."""
        covered: dict[int, tuple[int, bool]] = {}
        for number, (start, end) in enumerate(ranges):
            for k, i in enumerate(self._inside(start, end)):
                covered[i] = (number, k == 0)
        return covered

    def _unit_columns(self) -> dict[int, tuple[int, int]]:
        """Token index -> column range of the date or IBAN it is part of (same line)."""
        members: dict[tuple[str, int], list[int]] = {}
        for i, (number, _) in self.date_of.items():
            members.setdefault(("date", number), []).append(i)
        for i, (_, _, number) in self.iban_of.items():
            members.setdefault(("iban", number), []).append(i)
        columns: dict[int, tuple[int, int]] = {}
        for indices in members.values():
            first, last = self.tokens[min(indices)], self.tokens[max(indices)]
            if first.line == last.line:
                for i in indices:
                    columns[i] = (first.col, last.col + len(last.text))
        return columns

    def _previous_lines(self) -> dict[int, int]:
        """Line number -> number of the closest earlier line that has tokens."""
        numbers = sorted(self.lines)
        return {b: a for a, b in pairwise(numbers)}

    def above(self, i: int) -> list[str | None]:
        """Words in the previous non-empty line over the columns of token ``i``'s unit.

        The unit is the whole date or IBAN the token belongs to, else the token itself,
        so every token of a date in a table row sees the full column header.
        """
        tok = self.tokens[i]
        prev = self._previous.get(tok.line)
        if prev is None:
            return []
        col, col_end = self.unit_columns.get(i, (tok.col, tok.col + len(tok.text)))
        first, last = self.lines[prev]
        return [
            self.words[j] for j in range(first, last)
            if self.tokens[j].col < col_end + 2
            and self.tokens[j].col + len(self.tokens[j].text) > col - 2
        ]  # fmt: skip

    def nearest_words(self, i: int, window: int) -> list[str | None]:
        """The two closest words (letters) left of token ``i`` on its line."""
        first = self.lines[self.tokens[i].line][0]
        found: list[str | None] = []
        for j in range(i - 1, max(first, i - window) - 1, -1):
            word = self.words[j]
            if word is not None and word[0].isalpha():
                found.append(f"{len(found)}:{word}")
                if len(found) == 2:
                    break
        return found

    def previous_line_words(self, line: int) -> list[str | None]:
        prev = self._previous.get(line)
        if prev is None:
            return []
        first, last = self.lines[prev]
        return self.words[first : min(last, first + 4)]
