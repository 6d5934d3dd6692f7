"""Progress of a batch: a bar on a terminal, a line every ~10% in a log."""

from __future__ import annotations

import io

from aidock.worker.progress import Progress


def test_progress_on_a_terminal_and_in_logs() -> None:
    tty = io.StringIO()
    progress = Progress(3, tty, tty=True)
    for ok in (True, False, True):
        progress.update(ok)
    progress.finish()
    assert tty.getvalue().count("\r[") == 3 and "3/3 documents (1 failed)" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    plain = io.StringIO()
    progress = Progress(30, plain, tty=False)
    for _ in range(30):
        progress.update(True)
    assert plain.getvalue().count("\n") == 10 and "\r" not in plain.getvalue()
