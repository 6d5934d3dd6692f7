"""Statements: a bank's account statement, or a supplier's statement of open items (which
reads like a reminder but asks for nothing). No field is labelled.

``transactions`` (balances and bookings) is quoted by terminations too.
"""

from __future__ import annotations

import datetime as dt

from aidock.ais.corpus.builder import Arg
from aidock.ais.corpus.letter import (
    Ctx,
    closing,
    footer,
    generic,
    header_fields,
    letterhead,
    place_date,
    recipient,
)
from aidock.ais.corpus.names import bank_name, company, person
from aidock.ais.corpus.numbers import bic, cents, digits, invoice_number, make_iban, other_number
from aidock.ais.formats import format_iban

_LINE = 60  # width of a booking line before its amount


def statement(c: Ctx) -> None:
    rng, b = c.rng, c.b
    customer = person(rng)
    end = c.today.replace(day=1) - dt.timedelta(days=1)
    start = end.replace(day=1)
    if rng.random() < 0.22:  # a supplier's statement of open items: reads like a reminder
        _open_items(c, customer, start, end)
        return
    bank = bank_name(rng)
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.7)
    letterhead(c, bank)
    recipient(c, customer)
    b.line(f"{c.pick('stmt_title')} {rng.randint(1, 12)}/{end.year}")
    fields: list[tuple[str, Arg]] = [
        ("IBAN", iban),
        (c.text("stmt_period"), [c.date(start), " - ", c.date(end)]),
        (c.text("stmt_date"), c.date(c.today)),
    ]
    if rng.random() < 0.5:
        fields.append((c.text("account_holder"), customer))
    header_fields(c, fields)
    transactions(c, start, end, rng.randint(3, 12))
    b.blank()
    if rng.random() < 0.5:
        limit = c.style.money(rng.choice([100000, 200000, 500000]))
        b.linef(c.text("stmt_overdraft"), limit=limit)
    b.line(c.text("stmt_check"))
    generic(c)
    footer(c, bank, None, bic(rng, c.country))


def transactions(c: Ctx, start: dt.date, end: dt.date, count: int) -> None:
    """Opening balance, ``count`` bookings and the closing balance of an account."""
    b = c.b
    balance = cents(c.rng, -2000, 20000)
    b.line(c.text("opening_balance").ljust(_LINE), *c.style.money(balance))
    for _ in range(count):
        balance += _booking(c, start, end)
    b.line(c.text("closing_balance").ljust(_LINE), *c.style.money(balance))


def _booking(c: Ctx, start: dt.date, end: dt.date) -> int:
    """One booking line between ``start`` and ``end``; returns its amount in cents."""
    rng = c.rng
    day = start + dt.timedelta(days=rng.randint(0, (end - start).days))
    amount = cents(rng, 5, 3000) * rng.choice([-1, -1, -1, 1])
    who = rng.choice([company(rng, c.country), person(rng), "ATM", "Card payment"])
    text = c.pick("booking_text")
    if rng.random() < 0.3:
        who += f" {rng.choice(['INV', 'Ref', 'RE'])} {digits(rng, 6)}"
    elif rng.random() < 0.15:
        text = c.pick("booking_special")
    elif rng.random() < 0.15:
        who = f"{c.text('booking_invoice')} {invoice_number(rng, day.year)}"
    c.b.line(
        f"{day.day:02d}.{day.month:02d}.  {text:<17} {who}"[:_LINE].ljust(_LINE),
        c.style.num(amount),
    )
    return amount


def _open_items(c: Ctx, customer: str, start: dt.date, end: dt.date) -> None:
    """A supplier's statement of account: its invoices and payments, no demand to pay."""
    rng, b = c.rng, c.b
    letterhead(c, company(rng, c.country))
    recipient(c, customer)
    place_date(c, c.today)
    b.blank()
    b.line(c.pick("open_title"))
    b.line(f"{c.pick('customer')}: {other_number(rng, end.year, 'customer')}")
    b.blank()
    b.line(c.text("open_intro").format(start=c.style.date(start), end=c.style.date(end)))
    b.blank()
    widths = [14, 20, 16]
    for _ in range(rng.randint(2, 6)):
        day = start + dt.timedelta(days=rng.randint(0, (end - start).days))
        kind = c.pick("open_kind")
        entry = f"{kind} {invoice_number(rng, day.year)}"
        b.row([c.style.date(day), entry, c.style.money(cents(rng, 20, 4000))], widths)
    b.blank()
    b.linef(c.text("open_balance"), amount=c.style.money(cents(rng, 0, 3000)))
    b.line(c.text("open_no_action"))
    generic(c)
    closing(c)
