"""Terminations of a contract, by the customer or by the company (then sometimes with the
account's final statement). No field is labelled."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aidock.ais.corpus.letter import (
    TO_WHOM,
    Ctx,
    closing,
    footer,
    generic,
    letterhead,
    place_date,
    recipient,
)
from aidock.ais.corpus.names import bank_name, company, insurer, person
from aidock.ais.corpus.numbers import (
    bic,
    cents,
    digits,
    invoice_number,
    make_iban,
    other_number,
)
from aidock.ais.corpus.statement import transactions
from aidock.ais.formats import format_iban


@dataclass
class _Contract:
    """The contract that ends, between whom, from when."""

    company: str
    customer: str
    number: str
    effective: dt.date
    thing: str


def termination(c: Ctx) -> None:
    contract = _draw(c)
    if c.rng.random() < 0.65:
        _by_customer(c, contract)
    else:
        _by_company(c, contract)


def _draw(c: Ctx) -> _Contract:
    rng, today = c.rng, c.today
    sender = rng.choice([insurer(rng, c.country), bank_name(rng), company(rng, c.country)])
    customer = person(rng)
    number = other_number(rng, today.year, rng.choice(["contract", "policy", "customer"]))
    effective = dt.date(today.year + (today.month > 9), (today.month + 2) % 12 + 1, 1)
    return _Contract(sender, customer, number, effective, c.pick("term_thing"))


def _by_customer(c: Ctx, contract: _Contract) -> None:
    rng, b = c.rng, c.b
    letterhead(c, contract.customer)
    recipient(c, contract.company)
    place_date(c, c.today)
    b.blank()
    b.linef(c.text("term_subject_customer"), thing=contract.thing, no=contract.number)
    b.blank()
    b.line(c.pick("dear").format(name=TO_WHOM))
    b.linef(
        c.pick("term_notice_customer"),
        thing=contract.thing,
        no=contract.number,
        date=c.date(contract.effective),
    )
    if rng.random() < 0.6:
        b.linef(
            c.text("term_refund"),
            amount=c.style.money(cents(rng, 5, 900)),
            iban=format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.5),
        )
    if rng.random() < 0.5:
        b.linef(
            c.text("term_mandate"),
            mref=f"MR-{digits(rng, 8)}",
            date=c.date(contract.effective, alt=True),
        )
    b.line(c.text("term_confirm"))
    if rng.random() < 0.25:
        b.line(c.text("term_final_documents"))
    closing(c, contract.customer)


def _by_company(c: Ctx, contract: _Contract) -> None:
    rng, b = c.rng, c.b
    letterhead(c, contract.company)
    recipient(c, contract.customer)
    place_date(c, c.today)
    b.blank()
    b.linef(c.text("term_subject_company"), thing=contract.thing, no=contract.number)
    b.blank()
    b.line(c.pick("dear").format(name=contract.customer))
    b.linef(
        c.text("term_notice_company"),
        thing=contract.thing,
        no=contract.number,
        date=c.date(contract.effective),
    )
    _open_amounts(c)
    b.line(c.text("term_notice_period"))
    if rng.random() < 0.35:  # with the final statement of the account
        b.blank()
        b.line(c.text("term_final_statement"))
        end = c.today - dt.timedelta(days=1)
        transactions(c, end - dt.timedelta(days=rng.randint(20, 60)), end, rng.randint(2, 6))
    generic(c)
    closing(c, contract.company)
    footer(c, contract.company, None, bic(rng, c.country))


def _open_amounts(c: Ctx) -> None:
    """What remains between the parties: unpaid premiums, a credit to pay out."""
    rng, b = c.rng, c.b
    if rng.random() < 0.3:
        first = c.today - dt.timedelta(days=rng.randint(30, 60))
        b.linef(
            c.text("term_unpaid"),
            d1=c.date(first),
            d2=c.date(first + dt.timedelta(days=14)),
            no=invoice_number(rng, first.year),
            amount=c.style.money(cents(rng, 20, 900)),
        )
    if rng.random() < 0.6:
        b.linef(
            c.text("term_outstanding"),
            amount=c.style.money(cents(rng, 20, 3000)),
            date=c.date(c.today - dt.timedelta(days=rng.randint(20, 80))),
        )
    if rng.random() < 0.4:
        b.linef(
            c.text("term_credit"),
            iban=format_iban(make_iban(rng, c.country.code), grouped=True),
        )
