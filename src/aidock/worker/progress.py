"""Progress of a batch on stderr: a ``tqdm`` bar on a terminal, plain lines in a log.

``tqdm`` with ``disable=None`` draws only when the stream is a TTY; otherwise (``docker
compose run`` without ``-t``, a log file) a line every ~10% of the documents says how far
the batch is, so a log stays readable.
"""

from __future__ import annotations

import threading
import time
from typing import TextIO

from tqdm import tqdm

BAR_FORMAT = "{n_fmt}/{total_fmt} documents{postfix} |{bar}| {rate_fmt}, {elapsed}"


class Progress:
    """A progress bar on a terminal, a log line every ~10% otherwise."""

    def __init__(self, total: int, stream: TextIO, *, tty: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._every = max(1, total // 10)
        self.bar = tqdm(
            total=total,
            file=stream,
            disable=None if tty is None else not tty,
            unit=" docs",
            bar_format=BAR_FORMAT,
            postfix="0 failed",
            dynamic_ncols=True,
        )

    def _line(self) -> str:
        elapsed = max(time.monotonic() - self.started, 1e-6)
        rate = self.done / elapsed
        return (
            f"{self.done}/{self.total} documents ({self.failed} failed), "
            f"{rate:.1f} docs/s, {elapsed:.0f}s"
        )

    def update(self, ok: bool) -> None:
        """One more document done."""
        with self._lock:
            self.done += 1
            self.failed += 0 if ok else 1
            if not self.bar.disable:
                self.bar.set_postfix_str(f"{self.failed} failed", refresh=False)
                self.bar.update(1)
            elif self.done % self._every == 0 or self.done == self.total:
                self.stream.write(f"worker: {self._line()}\n")
                self.stream.flush()

    def finish(self) -> None:
        """Draw the bar a last time and end its line."""
        self.bar.close()
