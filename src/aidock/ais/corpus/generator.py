"""One document of a seed: its category, country, scan quality, template and excerpt."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Callable

from aidock.ais.corpus.builder import Builder
from aidock.ais.corpus.claim import claim
from aidock.ais.corpus.invoice import invoice
from aidock.ais.corpus.letter import Ctx
from aidock.ais.corpus.note import note
from aidock.ais.corpus.reminder import reminder
from aidock.ais.corpus.statement import statement
from aidock.ais.corpus.style import Style
from aidock.ais.corpus.tables import common, language
from aidock.ais.corpus.termination import termination
from aidock.ais.document import CATEGORIES, Document, Span

CORPUS_VERSION = "v2"
CATEGORY_WEIGHTS = (0.3, 0.2, 0.18, 0.16, 0.16)
EXCERPT_RATE = 0.12  # share of documents that are only a part of a letter
NOTE_RATE = 0.12  # share of documents that are short e-mail-like notes
POOR_SCAN_RATE = 0.12  # share of documents with heavy OCR noise
LABEL_NOISE = 0.015  # share of drawn categories swapped with a look-alike (annotator slips)
# A label slip stays within documents of the same shape, so fields keep their meaning.
CONFUSABLE = {"invoice": ("reminder",), "reminder": ("invoice",),
              "claim": ("termination", "statement"), "termination": ("claim", "statement"),
              "statement": ("claim", "termination")}  # fmt: skip
TEMPLATES: dict[str, Callable[[Ctx], None]] = {
    "invoice": invoice,
    "reminder": reminder,
    "claim": claim,
    "termination": termination,
    "statement": statement,
}


def generate_one(seed: int, index: int, category: str | None = None) -> Document:
    """Document ``index`` of ``seed`` (optionally forcing its ``category``).

    A drawn category is, rarely (``LABEL_NOISE``), recorded as a look-alike one, as an
    annotator would slip; a forced ``category`` is always the recorded one.
    """
    rng = random.Random(f"aidock-corpus/{CORPUS_VERSION}:{seed}:{index}")
    drawn = rng.choices(CATEGORIES, weights=CATEGORY_WEIGHTS)[0]
    slip = rng.random() < LABEL_NOISE
    slipped = rng.choice(CONFUSABLE[drawn])
    if category is not None and category not in TEMPLATES:
        raise ValueError(f"unknown category {category!r}; known: {', '.join(CATEGORIES)}")
    template = category or drawn
    label = category or (slipped if slip else drawn)
    ctx = _context(rng)
    if rng.random() < NOTE_RATE:
        note(ctx, template)
    else:
        TEMPLATES[template](ctx)
    text, spans = ctx.b.text(), sorted(ctx.b.spans, key=lambda s: s.start)
    if rng.random() < EXCERPT_RATE:
        text, spans = _excerpt(rng, text, spans)
    return Document(id=f"doc-{seed}-{index:06d}", text=text, category=label, fields=tuple(spans))


def generate(n: int, seed: int = 0) -> list[Document]:
    """``n`` documents, deterministic in ``seed``."""
    if n < 0:
        raise ValueError("n must be >= 0")
    return [generate_one(seed, i) for i in range(n)]


def _context(rng: random.Random) -> Ctx:
    """A document's country, scan quality (OCR noise per word), formats and date."""
    countries = common().countries
    country = rng.choices(countries, weights=[c.weight for c in countries])[0]
    scan = rng.random()
    if scan < POOR_SCAN_RATE:
        noise = rng.uniform(0.08, 0.2)
    else:
        noise = 0.0 if scan < 0.55 else rng.uniform(0.01, 0.06)
    today = dt.date(2022, 1, 1) + dt.timedelta(days=rng.randrange(4 * 365))
    words = language(country.language)
    return Ctx(rng, Builder(rng, noise), country, Style(rng, country, words), words, today)


def _excerpt(rng: random.Random, text: str, spans: list[Span]) -> tuple[str, list[Span]]:
    """A run of whole lines, as when a scan is split into pages; spans cut off are dropped."""
    lines = text.splitlines(keepends=True)
    size = max(3, int(len(lines) * rng.uniform(0.35, 0.7)))
    first = rng.randint(0, max(len(lines) - size, 0))
    start = sum(len(line) for line in lines[:first])
    end = start + sum(len(line) for line in lines[first : first + size])
    kept = [
        Span(s.label, s.start - start, s.end - start, s.text)
        for s in spans
        if start <= s.start and s.end <= end
    ]
    return text[start:end], kept
