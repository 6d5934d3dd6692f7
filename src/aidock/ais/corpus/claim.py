"""Insurance claims, from the insurer (a settlement) or from the customer (a report).

No field is labelled; they quote repair invoices, amounts, dates and IBANs.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from aidock.ais.corpus.builder import Arg
from aidock.ais.corpus.invoice import items
from aidock.ais.corpus.letter import (
    TO_WHOM,
    Ctx,
    closing,
    footer,
    generic,
    header_fields,
    letterhead,
    place_date,
    recipient,
)
from aidock.ais.corpus.names import insurer, person
from aidock.ais.corpus.numbers import bic, cents, invoice_number, make_iban, other_number
from aidock.ais.formats import format_iban


@dataclass
class _Loss:
    """The claim both sides write about."""

    insurer: str
    loss: dt.date
    reported: dt.date
    claim_no: str
    policy_no: str
    damage: int
    deductible: int
    customer: str
    iban: str
    kind: str

    @property
    def payout(self) -> int:
        return max(self.damage - self.deductible, 0)


def claim(c: Ctx) -> None:
    loss = _draw(c)
    if c.rng.random() < 0.6:
        _settlement(c, loss)
    else:
        _report(c, loss)


def _draw(c: Ctx) -> _Loss:
    rng = c.rng
    sender = insurer(rng, c.country)
    loss = c.today - dt.timedelta(days=rng.randint(5, 60))
    reported = loss + dt.timedelta(days=rng.randint(1, 5))
    claim_no = other_number(rng, loss.year, "claim")
    policy_no = other_number(rng, loss.year, "policy")
    damage = cents(rng, 300, 25000)
    deductible = rng.choice([15000, 25000, 50000, 100000])
    customer = person(rng)
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    kind = c.pick("claim_kind")
    return _Loss(
        sender, loss, reported, claim_no, policy_no, damage, deductible, customer, iban, kind
    )


def _settlement(c: Ctx, loss: _Loss) -> None:
    """The insurer writes to the customer: what it pays, after the deductible."""
    rng, b = c.rng, c.b
    _settlement_head(c, loss)
    b.linef(c.text("claim_thanks"), kind=loss.kind, date=c.date(loss.reported))
    b.linef(c.text("claim_assessed"), damage=c.style.money(loss.damage))
    if rng.random() < 0.4:
        b.linef(
            c.text("claim_repair_checked"),
            no=invoice_number(rng, loss.loss.year),
            date=c.date(loss.reported),
            amount=c.style.money(loss.damage),
        )
        if rng.random() < 0.5:
            b.line(c.text("claim_invoice_items"))
            items(c)
    b.linef(
        c.text("claim_payout"),
        ded=c.style.money(loss.deductible),
        pay=c.style.money(loss.payout),
        iban=loss.iban,
        n=str(rng.randint(3, 10)),
    )
    if rng.random() < 0.5:
        b.line(c.text("claim_quote_number"))
    generic(c)
    b.blank()
    b.line(c.pick("regards"))
    b.line(f"{person(rng)}, {c.text('claims_department')}")
    insurer_iban = (
        format_iban(make_iban(rng, c.country.code), grouped=True) if rng.random() < 0.5 else None
    )
    footer(c, loss.insurer, insurer_iban, bic(rng, c.country))


def _settlement_head(c: Ctx, loss: _Loss) -> None:
    """Insurer, customer, date, the claim's references, the title and the salutation."""
    b = c.b
    letterhead(c, loss.insurer)
    recipient(c, loss.customer)
    place_date(c, c.today)
    b.blank()
    fields: list[tuple[str, Arg]] = [
        (c.text("claim_no"), loss.claim_no),
        (c.text("policy_no"), loss.policy_no),
        (c.text("loss_date"), c.date(loss.loss)),
    ]
    if c.rng.random() < 0.5:
        fields.append((c.text("reported_on"), c.date(loss.reported, alt=True)))
    header_fields(c, fields)
    b.line(c.pick("claim_title"))
    b.blank()
    b.line(c.pick("dear").format(name=loss.customer))


def _report(c: Ctx, loss: _Loss) -> None:
    """The customer reports the loss: what happened, what it costs, where to pay."""
    rng, b = c.rng, c.b
    letterhead(c, loss.customer)
    recipient(c, loss.insurer)
    place_date(c, loss.reported)
    b.blank()
    b.linef(c.text("claim_notification"), pol=loss.policy_no)
    b.blank()
    b.line(c.pick("dear").format(name=TO_WHOM))
    b.linef(c.text("claim_report"), kind=loss.kind, date=c.date(loss.loss))
    b.linef(
        c.text("claim_estimate"),
        no=other_number(rng, loss.loss.year, "order"),
        damage=c.style.money(loss.damage),
    )
    b.linef(c.text("claim_pay_to"), iban=loss.iban)
    if rng.random() < 0.2:
        b.linef(
            c.text("claim_disputed_debit"),
            date=c.date(loss.reported),
            amount=c.style.money(cents(rng, 20, 2000)),
        )
    if rng.random() < 0.25:
        b.linef(c.text("claim_workshop_invoice"), no=invoice_number(rng, loss.loss.year))
        items(c)
    b.line(c.text("claim_photos"))
    closing(c, loss.customer)
