"""Progress of a batch: a tqdm bar on a terminal, a line every ~10% in a log."""

from __future__ import annotations

import io

from aidock.worker.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_bar_on_a_terminal() -> None:
    tty = Terminal()
    progress = Progress(3, tty)
    for ok in (True, False, True):
        progress.update(ok)
    progress.finish()
    drawn = tty.getvalue()
    assert "\r" in drawn and "3/3 documents, 1 failed |" in drawn and " docs/s" in drawn
    assert drawn.endswith("\n") and "worker: " not in drawn


def test_plain_lines_every_tenth_in_a_log() -> None:
    plain = io.StringIO()
    progress = Progress(30, plain)
    for _ in range(30):
        progress.update(True)
    progress.finish()
    text = plain.getvalue()
    assert text.count("\n") == 10 and "\r" not in text
    assert text.splitlines()[-1].startswith("worker: 30/30 documents (0 failed), ")


def test_tty_overrides_the_stream() -> None:
    forced = io.StringIO()
    progress = Progress(2, forced, tty=True)
    progress.update(True)
    progress.update(True)
    progress.finish()
    assert "2/2 documents, 0 failed |" in forced.getvalue()
