"""The text of a document, written piece by piece: labelled pieces keep exact offsets.

Plain pieces may be garbled as a poor scan would (``noise`` per word); labelled values are
never touched, so their spans stay exact.
"""

from __future__ import annotations

import random
import re
from collections.abc import Sequence

from aidock.ais.document import Span

Piece = str | tuple[str, str]  # plain text, or (label, value) for a labelled field
Arg = str | tuple[str, str] | list[Piece]
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_WORD = re.compile(r"[A-Za-zÄÖÜäöüß]{4,}")
_OCR_CONFUSIONS = (
    ("e", "c"), ("c", "e"), ("l", "1"), ("i", "l"), ("o", "0"), ("rn", "m"), ("m", "rn"),
    ("u", "ü"), ("ü", "u"), ("ä", "a"), ("h", "b"), ("n", "h"), ("a", "o"), ("S", "5"),
)  # fmt: skip


def width(pieces: Sequence[Piece]) -> int:
    """Characters that ``pieces`` take on the line."""
    return sum(len(p[1]) if isinstance(p, tuple) else len(p) for p in pieces)


class Builder:
    """Appends text pieces, recording the offsets of labelled ones."""

    def __init__(self, rng: random.Random, noise: float) -> None:
        self._rng = rng
        self._noise = noise
        self._parts: list[str] = []
        self._length = 0
        self.spans: list[Span] = []

    def write(self, *pieces: Piece) -> None:
        for piece in pieces:
            if isinstance(piece, tuple):
                label, value = piece
                self.spans.append(Span(label, self._length, self._length + len(value), value))
                self._append(value)
            else:
                self._append(self._typos(piece) if self._noise else piece)

    def line(self, *pieces: Piece) -> None:
        self.write(*pieces, "\n")

    def linef(self, template: str, **args: Arg) -> None:
        """A line from ``template`` whose ``{name}`` placeholders take ``args``."""
        pieces: list[Piece] = []
        pos = 0
        for match in _PLACEHOLDER.finditer(template):
            pieces.append(template[pos : match.start()])
            value = args[match.group(1)]
            pieces.extend(value if isinstance(value, list) else [value])
            pos = match.end()
        pieces.append(template[pos:])
        self.line(*pieces)

    def blank(self, lines: int = 1) -> None:
        self._append("\n" * lines)

    def row(self, cells: Sequence[Arg], widths: Sequence[int], right: Sequence[int] = ()) -> None:
        """A table row: cells padded to ``widths`` (indices in ``right`` right-aligned)."""
        pieces: list[Piece] = []
        for i, (cell, cell_width) in enumerate(zip(cells, widths, strict=True)):
            cell_pieces = cell if isinstance(cell, list) else [cell]
            pad = " " * max(cell_width - width(cell_pieces), 1)
            if i in right:
                pieces.extend([pad, *cell_pieces])
            else:
                pieces.extend([*cell_pieces, pad if i < len(cells) - 1 else ""])
        self.line(*pieces)

    def text(self) -> str:
        return "".join(self._parts)

    def _append(self, text: str) -> None:
        self._parts.append(text)
        self._length += len(text)

    def _typos(self, text: str) -> str:
        """OCR-ish noise in plain words only (labelled values are never touched).

        A word's first and last characters stay letters, so a noisy word never glues
        onto the labelled value next to it.
        """
        return _WORD.sub(self._typo, text)

    def _typo(self, match: re.Match[str]) -> str:
        """One word, as a poor scan may read it: a character dropped, doubled, swapped,
        the word upper-cased or split, or a look-alike glyph (e/c, l/1, o/0, rn/m, ...)."""
        rng, word = self._rng, match.group(0)
        if rng.random() >= self._noise:
            return word
        i = rng.randrange(1, len(word) - 1)
        kind = rng.randrange(7)
        if kind == 0:
            return word[:i] + word[i + 1 :]
        if kind == 1:
            return word[:i] + word[i] + word[i:]
        if kind == 2:
            return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
        if kind == 3:
            return word.upper()
        if kind == 4:
            return word[:i] + " " + word[i:]
        middle = word[1:-1]
        for seen, read in rng.sample(_OCR_CONFUSIONS, len(_OCR_CONFUSIONS)):
            if seen in middle:
                return word[0] + middle.replace(seen, read, 1) + word[-1]
        return word
