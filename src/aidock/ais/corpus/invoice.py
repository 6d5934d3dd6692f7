"""Invoices: every field labelled, among look-alike numbers, dates, amounts and IBANs.

``items`` (the table of invoiced items) is quoted by reminders and claims too.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aidock.ais.corpus.builder import Arg, Piece
from aidock.ais.corpus.letter import (
    Ctx,
    amount_lines,
    closing,
    footer,
    generic,
    header_fields,
    letterhead,
    place_date,
    recipient,
)
from aidock.ais.corpus.names import bank_name, company, person
from aidock.ais.corpus.numbers import (
    bic,
    cents,
    creditor_id,
    digits,
    invoice_number,
    make_iban,
    other_number,
    rf_reference,
)
from aidock.ais.formats import format_iban


@dataclass
class _Bill:
    """What an invoice is about: who bills, when, which number, to which account."""

    company: str
    date: dt.date
    days: int
    due: dt.date
    number: str
    iban: str
    bic: str


def invoice(c: Ctx) -> None:
    rng, b = c.rng, c.b
    bill = _draw_bill(c)
    letterhead(c, bill.company)
    recipient(c, rng.choice([person(rng), company(rng, c.country)]))
    letter_date = rng.random() < 0.35
    if letter_date:
        place_date(c, bill.date, "invoice_date")
        b.blank()
    if rng.random() < 0.9:
        b.line(c.pick("inv_title"))
        b.blank()
    due_in_header = _header(c, bill, letter_date)
    _context(c, bill.date)
    if rng.random() < 0.5:
        name = person(rng)
        b.line(c.pick("dear").format(name=name))
        b.line(c.pick("inv_intro"))
        b.blank()
    totals(c, items(c))
    b.blank()
    iban_in_body = _payment(c, bill, due_in_header)
    b.line(c.pick("thanks"))
    generic(c)
    if rng.random() < 0.5:
        closing(c)
    footer_iban: Piece | None = None if iban_in_body else ("iban", bill.iban)
    if iban_in_body and rng.random() < 0.25:  # a second, unlabelled bank account
        footer_iban = format_iban(make_iban(rng, c.country.code), grouped=True)
    footer(c, bill.company, footer_iban, bill.bic)


def _draw_bill(c: Ctx) -> _Bill:
    rng = c.rng
    sender = company(rng, c.country)
    day = c.today - dt.timedelta(days=rng.randint(0, 5))
    days = rng.choice([7, 10, 14, 30])
    number = invoice_number(rng, day.year)
    payee_iban = make_iban(rng, c.country.code if rng.random() < 0.85 else "DE")
    iban_text = format_iban(payee_iban, grouped=rng.random() < 0.6)
    return _Bill(
        sender, day, days, day + dt.timedelta(days=days), number, iban_text, bic(rng, c.country)
    )


def _header(c: Ctx, bill: _Bill, letter_date: bool) -> bool:
    """The invoice's key/value header; True when it holds the due date."""
    rng, year = c.rng, bill.date.year
    fields: list[tuple[str, Arg]] = [(c.pick("inv_no"), ("invoice_number", bill.number))]
    if not letter_date:
        fields.append((c.pick("inv_date"), c.date(bill.date, "invoice_date")))
    if rng.random() < 0.7:
        fields.append((c.pick("customer"), other_number(rng, year, "customer")))
    if rng.random() < 0.5:
        fields.append((c.pick("order"), other_number(rng, year, "order")))
    if rng.random() < 0.4:
        delivered = bill.date - dt.timedelta(days=rng.randint(1, 20))
        fields.append((c.pick("delivery_date"), c.date(delivered, alt=rng.random() < 0.3)))
    if rng.random() < 0.25:
        ordered = bill.date - dt.timedelta(days=rng.randint(10, 40))
        fields.append((c.pick("order_date"), c.date(ordered)))
    if rng.random() < 0.2:
        fields.append((c.pick("delivery"), other_number(rng, year, "delivery")))
    due_in_header = rng.random() < 0.3
    if due_in_header:
        fields.append((c.pick("due"), c.date(bill.due, "due_date")))
    header_fields(c, fields)
    return due_in_header


def _context(c: Ctx, day: dt.date) -> None:
    """Sometimes a line that reads like another category: a termination, a policy."""
    rng, b = c.rng, c.b
    context = rng.random()
    if context < 0.12:  # the last invoice of a terminated contract
        b.linef(
            c.text("inv_final_period"),
            no=other_number(rng, day.year, "contract"),
            date=c.date(day - dt.timedelta(days=rng.randint(1, 20)), alt=True),
        )
        b.blank()
    elif context < 0.22:  # an insurer's premium invoice
        b.linef(
            c.text("inv_premium"),
            pol=other_number(rng, day.year, "policy"),
            start=c.date(day.replace(day=1), alt=True),
            end=c.date(day.replace(day=1) + dt.timedelta(days=364), alt=True),
        )
        b.blank()


def _payment(c: Ctx, bill: _Bill, due_in_header: bool) -> bool:
    """How to pay: a direct debit, the due date or the terms; True when the IBAN is here."""
    rng, b = c.rng, c.b
    if rng.random() < 0.15:  # direct debit
        cust_iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.5)
        debit_day = bill.date + dt.timedelta(days=rng.randint(3, 10))
        b.linef(
            c.pick("debit"),
            iban=cust_iban,
            date=c.date(debit_day),
            mref=f"MR-{digits(rng, 8)}",
            cid=creditor_id(rng, c.country.code),
        )
    elif not due_in_header and rng.random() < 0.7:
        b.linef(c.pick("pay_due"), due=c.date(bill.due, "due_date"), days=str(bill.days))
    else:
        b.linef(c.pick("pay_terms"), days=str(bill.days))
    if rng.random() < 0.2:
        b.line(f"{c.text('payment_reference')}: {rf_reference(rng)}")
    iban_in_body = rng.random() < 0.5
    if iban_in_body:
        pay_to(c, bill.iban, bill.bic, bill.company)
    if rng.random() < 0.15:
        b.line(c.text("inv_late_fees"))
    return iban_in_body


def pay_to(c: Ctx, iban: str, bic: str, holder: str) -> None:
    """The bank details line, its IBAN labelled."""
    c.b.linef(
        c.pick("pay_iban"), bank=bank_name(c.rng), iban=("iban", iban), bic=bic, holder=holder
    )


def items(c: Ctx) -> int:
    """The table of invoiced items; returns their net sum in cents."""
    rng, b = c.rng, c.b
    head = c.pick("items_head").split("|")
    widths = [5, 34, 6, 14, 14]
    b.row(head, widths, right=(3, 4))
    net = 0
    for pos in range(1, rng.randint(1, 6) + 1):
        qty = rng.choice([1, 1, 1, 2, 3, 5, 10, 12, 25])
        price = cents(rng, 5, 2500 if qty < 5 else 200)
        amount = qty * price
        net += amount
        b.row(
            [str(pos), c.pick("item"), str(qty), c.style.num(price), c.style.num(amount)],
            widths,
            right=(3, 4),
        )
    b.line("-" * 73)
    return net


def totals(c: Ctx, net: int) -> int:
    """Discount, shipping, net, VAT and the labelled total; returns the total in cents."""
    rng = c.rng
    line = rng.choice([40, 50, 58])
    rows: list[tuple[str, list[Piece]]] = []
    if rng.random() < 0.2:
        pct = rng.choice([2, 3, 5, 10])
        off = -round(net * pct / 100)
        rows.append((f"{c.pick('discount')} {pct}%", c.style.money(off)))
        net += off
    if rng.random() < 0.2:
        ship = cents(rng, 4, 60)
        rows.append((c.pick("shipping"), c.style.money(ship)))
        net += ship
    rows.append((c.pick("subtotal"), c.style.money(net)))
    rate = rng.choice(c.country.vat_rates)
    vat = round(net * float(rate) / 100)
    rows.append((c.pick("vat").format(r=rate), c.style.money(vat)))
    total = net + vat
    rows.append((c.pick("total"), c.style.money(total, "total_amount")))
    amount_lines(c, rows, indent=30, line=line)
    return total
