"""Reminders: the open invoice's number, date and amount labelled, a new due date, maybe a
fee (then the labelled total is the sum) and a copy of the invoice's items."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aidock.ais.corpus.invoice import items, pay_to
from aidock.ais.corpus.letter import (
    Ctx,
    amount_lines,
    closing,
    footer,
    generic,
    letterhead,
    place_date,
    recipient,
)
from aidock.ais.corpus.names import company, person
from aidock.ais.corpus.numbers import bic, cents, invoice_number, make_iban, other_number
from aidock.ais.formats import format_iban


@dataclass
class _Dunning:
    """The open invoice and what is asked now."""

    company: str
    invoice_date: dt.date
    original_due: dt.date
    new_due: dt.date
    number: str
    iban: str
    bic: str
    amount: int
    fee: int


def reminder(c: Ctx) -> None:
    rng, b = c.rng, c.b
    dun = _draw(c)
    letterhead(c, dun.company)
    recipient(c, rng.choice([person(rng), company(rng, c.country)]))
    place_date(c, c.today)
    b.blank()
    if rng.random() < 0.85:
        b.line(c.pick("rem_title"))
    if rng.random() < 0.6:
        b.line(
            f"{c.pick('rem_no')}: {other_number(rng, c.today.year, 'reminder')}   "
            f"{c.pick('customer')}: {other_number(rng, c.today.year, 'customer')}"
        )
    b.blank()
    b.line(c.pick("dear").format(name=person(rng)))
    b.blank()
    _open_invoice(c, dun)
    b.blank()
    if rng.random() < 0.35:  # quotes the invoice: its title and items
        b.line(c.pick("rem_invoice_copy"))
        items(c)
        b.blank()
    if dun.fee:
        rows = [
            (c.pick("rem_fee"), c.style.money(dun.fee)),
            (c.pick("rem_total"), c.style.money(dun.amount + dun.fee, "total_amount")),
        ]
        amount_lines(c, rows, indent=20, line=40)
        b.blank()
    b.linef(c.pick("rem_pay"), due=c.date(dun.new_due, "due_date"))
    iban_in_body = rng.random() < 0.6
    if iban_in_body:
        pay_to(c, dun.iban, dun.bic, dun.company)
    b.line(c.pick("rem_ignore"))
    generic(c)
    closing(c)
    footer(c, dun.company, None if iban_in_body else ("iban", dun.iban), dun.bic)


def _draw(c: Ctx) -> _Dunning:
    rng = c.rng
    sender = company(rng, c.country)
    invoice_date = c.today - dt.timedelta(days=rng.randint(25, 90))
    original_due = invoice_date + dt.timedelta(days=rng.choice([14, 30]))
    new_due = c.today + dt.timedelta(days=rng.choice([7, 10, 14]))
    number = invoice_number(rng, invoice_date.year)
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    payee_bic = bic(rng, c.country)
    amount = cents(rng, 30, 15000)
    fee = cents(rng, 2, 15) if rng.random() < 0.5 else 0
    return _Dunning(
        sender, invoice_date, original_due, new_due, number, iban, payee_bic, amount, fee
    )


def _open_invoice(c: Ctx, dun: _Dunning) -> None:
    """The open invoice in a sentence or a one-row table; the amount is the labelled total
    when no fee is added."""
    rng, b = c.rng, c.b
    amount_label = None if dun.fee else "total_amount"
    if rng.random() < 0.6:
        b.linef(
            c.pick("rem_open"),
            no=("invoice_number", dun.number),
            date=c.date(dun.invoice_date, "invoice_date"),
            amount=c.style.money(dun.amount, amount_label),
        )
        return
    b.line(c.pick("rem_open_item"))
    b.blank()
    widths = [20, 18, 18, 16]
    b.row(c.pick("rem_table").split("|"), widths)
    b.row(
        [
            ("invoice_number", dun.number),
            c.date(dun.invoice_date, "invoice_date"),
            c.date(dun.original_due),
            c.style.money(dun.amount, amount_label),
        ],
        widths,
    )
