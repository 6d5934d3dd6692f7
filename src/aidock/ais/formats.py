"""IBAN layouts and the ISO 7064 mod 97-10 check, shared by the features and the corpus.

Written here rather than taken from python-stdnum or schwifty: neither is in the locks
(``requirements/dev.lock``, ``images/bento/requirements.lock``), and the corpus needs the
BBAN layouts anyway to make IBANs of its own.
"""

from __future__ import annotations

import re

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
_IBAN_RE = re.compile(r"[A-Z]{2}\d{2}[A-Z0-9]+")


def mod97(chars: str) -> int:
    """ISO 7064 mod 97-10 remainder of an alphanumeric string (A=10 ... Z=35)."""
    return int("".join(str(int(ch, 36)) for ch in chars)) % 97


def check_digits(body: str, prefix: str) -> str:
    """The two check digits that make ``prefix + digits + body`` pass mod 97 (IBAN, RF, CI)."""
    return f"{98 - mod97(body + prefix + '00'):02d}"


def iban_is_valid(iban: str) -> bool:
    """True when ``iban`` (spaces allowed) has a known country, its length and checksum."""
    compact = iban.replace(" ", "").upper()
    if not _IBAN_RE.fullmatch(compact):
        return False
    if IBAN_LENGTHS.get(compact[:2]) != len(compact):
        return False
    return mod97(compact[4:] + compact[:4]) == 1


def format_iban(iban: str, grouped: bool) -> str:
    """Paper format (groups of four) or the compact electronic format."""
    return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4)) if grouped else iban
