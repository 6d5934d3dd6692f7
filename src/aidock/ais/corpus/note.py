"""Short e-mail-like notes of any category; invoices and reminders carry their fields.

A note's body comes from its category's own list or, for a weak cue (``WEAK_CUE_RATE``),
from a list that two or three categories share: those are hard by design.
"""

from __future__ import annotations

import datetime as dt

from aidock.ais.corpus.letter import Ctx, closing, generic
from aidock.ais.corpus.names import company, person
from aidock.ais.corpus.numbers import cents, invoice_number, make_iban, other_number
from aidock.ais.formats import format_iban

WEAK_CUE_RATE = 0.4  # share of notes whose body two or three categories share
_SHARED_BODIES = {"invoice": "billing", "reminder": "billing", "claim": "account",
                  "termination": "account", "statement": "account"}  # fmt: skip
_REFERENCE_KINDS = {"claim": "claim", "termination": "contract"}  # else a customer number


def note(c: Ctx, category: str) -> None:
    """A short note of ``category``."""
    rng, b = c.rng, c.b
    sender, to = rng.choice([company(rng, c.country), person(rng)]), person(rng)
    weak = rng.random() < WEAK_CUE_RATE
    subjects = c.words.note_subjects["any" if weak or rng.random() < 0.3 else category]
    body = rng.choice(c.words.note_bodies[_SHARED_BODIES[category] if weak else category])
    if rng.random() < 0.7:
        b.line(f"{c.text('note_from')}: {sender}")
        b.line(f"{c.text('note_to')}: {to}")
        b.line(f"{c.text('note_subject')}: {rng.choice(subjects)}")
    else:
        b.line(rng.choice(subjects))
    b.blank()
    b.line(c.pick("dear").format(name=to))
    _body(c, category, body)
    if rng.random() < 0.4:
        generic(c)
    closing(c, sender)


def _body(c: Ctx, category: str, body: str) -> None:
    """The note's one paragraph: labelled fields for invoices and reminders only."""
    rng = c.rng
    billing = category in ("invoice", "reminder")
    ago = rng.randint(0, 5) if category == "invoice" else rng.randint(20, 60)
    day = c.today - dt.timedelta(days=ago)
    iban = format_iban(make_iban(rng, c.country.code), grouped=rng.random() < 0.6)
    c.b.linef(
        body,
        no=("invoice_number", invoice_number(rng, day.year)),
        date=c.date(day, "invoice_date" if billing else None),
        due=c.date(c.today + dt.timedelta(days=rng.choice([7, 10, 14])), "due_date"),
        amount=c.style.money(cents(rng, 20, 5000), "total_amount" if billing else None),
        iban=("iban", iban) if billing else iban,
        ref=other_number(rng, day.year, _REFERENCE_KINDS.get(category, "customer")),
        pol=other_number(rng, day.year, "policy"),
        inv=invoice_number(rng, day.year),
    )
