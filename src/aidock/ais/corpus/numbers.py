"""Numbers a letter carries: invoice numbers, their look-alikes, IBANs, BICs, amounts."""

from __future__ import annotations

import random

from aidock.ais.corpus.tables import Country
from aidock.ais.formats import IBAN_BBAN, check_digits, format_iban

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


def digits(rng: random.Random, n: int) -> str:
    return str(rng.randint(10 ** (n - 1), 10**n - 1))


def cents(rng: random.Random, low: float, high: float) -> int:
    return round(rng.uniform(low, high) * 100)


def invoice_number(rng: random.Random, year: int) -> str:
    n = rng.randint(1, 99999)
    yy = year % 100
    return rng.choice(
        [
            f"INV-{year}-{n:05d}",
            f"RE-{year}-{n:04d}",
            f"{year}/{n:05d}",
            f"R{yy:02d}{n:06d}",
            digits(rng, rng.randint(7, 9)),
            f"INV{n:06d}",
            f"{rng.choice(_UPPER)}{rng.choice(_UPPER)}-{n:05d}",
            f"F{yy}-{rng.randint(1, 12):02d}-{n:04d}",
            f"{yy}{rng.randint(1, 12):02d}-{n:04d}",
        ]
    )


def other_number(rng: random.Random, year: int, kind: str) -> str:
    """Reference numbers that look like invoice numbers but are not."""
    n = rng.randint(1, 999999)
    if kind == "order":
        return rng.choice(
            [f"PO-{year}-{n % 100000:05d}", f"4500{n:06d}", f"ORD-{n}", digits(rng, 8)]
        )
    if kind == "customer":
        return rng.choice([f"KD-{n}", f"C{n:06d}", digits(rng, 6), f"CU-{n % 10000:04d}"])
    if kind == "delivery":
        return rng.choice([f"DN-{year}-{n % 10000:04d}", f"LS-{n:06d}", digits(rng, 7)])
    if kind == "policy":
        return rng.choice(
            [
                f"{digits(rng, 3)}.{digits(rng, 3)}.{digits(rng, 3)}",
                f"POL-{year % 100}-{n:06d}",
                f"VS-{n:07d}",
                digits(rng, 9),
            ]
        )
    if kind == "claim":
        return rng.choice(
            [f"CL-{year}-{n:06d}", f"SCH-{year}-{n % 100000:05d}", f"{year}/{n:06d}", f"S{n:07d}"]
        )
    if kind == "contract":
        return rng.choice([f"V-{n:06d}", f"CT-{year}-{n % 10000:04d}", digits(rng, 10)])
    if kind == "reminder":
        return rng.choice([f"M-{year}-{n % 10000:04d}", f"MA{n:06d}", f"R-{n % 1000:03d}"])
    raise ValueError(kind)


def vat_id(rng: random.Random, country: Country) -> str:
    return f"{country.code}{digits(rng, 9)}"


def bic(rng: random.Random, country: Country) -> str:
    letters = "".join(rng.choice(_UPPER) for _ in range(4))
    loc = rng.choice(["FF", "MM", "2X", "22", "HH", "ZZ"])
    return f"{letters}{country.code}{loc}{rng.choice(['', 'XXX', '100'])}"


def make_iban(rng: random.Random, country: str) -> str:
    """A random IBAN of ``country`` with a valid mod-97 checksum (compact form)."""
    bban = "".join(_layout_char(rng, kind) for kind in IBAN_BBAN[country])
    return f"{country}{check_digits(bban, country)}{bban}"


def _layout_char(rng: random.Random, kind: str) -> str:
    if kind == "n" or (kind == "c" and rng.random() < 0.85):
        return str(rng.randrange(10))
    return rng.choice(_UPPER)


def creditor_id(rng: random.Random, country: str) -> str:
    """SEPA creditor identifier: IBAN-looking, but not an IBAN."""
    national = "".join(str(rng.randrange(10)) for _ in range(11))
    return f"{country}{check_digits(national, country)}ZZZ{national}"


def rf_reference(rng: random.Random) -> str:
    """ISO 11649 structured creditor reference (RF..), grouped by four."""
    ref = "".join(str(rng.randrange(10)) for _ in range(rng.randint(8, 14)))
    return format_iban(f"RF{check_digits(ref, 'RF')}{ref}", grouped=True)
