"""Deterministic generator of synthetic bank/insurer documents with labelled fields.

``generate(n, seed)`` returns ``n`` documents drawn from five categories (invoice,
reminder, claim, termination, statement). Invoices and reminders carry labelled field
spans (``invoice_number``, ``invoice_date``, ``due_date``, ``total_amount``, ``iban``);
the other categories carry none but are full of look-alikes (dates, amounts, IBANs,
reference numbers) that an extractor must learn to leave alone. Document ``i`` of a
seed depends only on ``(seed, i)``, so ``generate(10, s)`` is a prefix of
``generate(100, s)``. Nothing is downloaded: names, places and phrases are in ``data/``
(``common.json`` and one file per language, ``en.json`` and ``de.json``).

The categories are made to overlap the way real mail does, so that a categorizer has
something to learn and a benchmark something to measure:

- look-alike content: reminders quote the invoice (title and items), claims quote the
  repair invoice or a disputed debit, terminations carry a final statement of the
  account, invoices follow a termination or bill an insurance premium, supplier
  statements list invoices like a reminder, bank statements book premiums and fees;
- shared boilerplate (contact, privacy, portal sentences) in every category;
- short e-mail-like notes (``NOTE_RATE``), some with a body that two or three
  categories share and no telling subject (``note.WEAK_CUE_RATE``);
- page excerpts (``EXCERPT_RATE``), OCR noise in words (dropped, doubled, swapped or
  look-alike characters, stray spaces), heavy on poor scans (``POOR_SCAN_RATE``);
- a small share of label slips between look-alike categories (``LABEL_NOISE``).

Labelled values are never noised, so span offsets stay exact. ``CORPUS_VERSION`` is
part of every document's random stream: changing the generator bumps it.

Modules: ``generator`` (one document of a seed), one per template (``invoice``,
``reminder``, ``claim``, ``termination``, ``statement``, ``note``), ``letter`` (parts
every letter shares), ``builder`` (text with span offsets, OCR noise), ``style`` (dates
and money), ``names`` and ``numbers`` (what a letter is filled with), ``tables`` (the
JSON data). The served AIs import none of this: the types are in ``aidock.ais.document``,
the IBAN checks in ``aidock.ais.formats``; both are re-exported here.
"""

from __future__ import annotations

from aidock.ais.corpus.generator import CORPUS_VERSION, generate, generate_one
from aidock.ais.corpus.numbers import make_iban
from aidock.ais.document import (
    CATEGORIES,
    FIELD_LABELS,
    Document,
    Span,
    read_jsonl,
    write_jsonl,
)
from aidock.ais.formats import IBAN_BBAN, IBAN_LENGTHS, format_iban, iban_is_valid

__all__ = [
    "CATEGORIES",
    "CORPUS_VERSION",
    "FIELD_LABELS",
    "IBAN_BBAN",
    "IBAN_LENGTHS",
    "Document",
    "Span",
    "format_iban",
    "generate",
    "generate_one",
    "iban_is_valid",
    "make_iban",
    "read_jsonl",
    "write_jsonl",
]
