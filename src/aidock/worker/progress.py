"""Progress of a batch on stderr."""

from __future__ import annotations

import threading
import time
from typing import TextIO


class Progress:
    """A ``\\r`` progress line on a terminal, a log line every ~10% otherwise."""

    def __init__(self, total: int, stream: TextIO, *, tty: bool | None = None) -> None:
        self.total = total
        self.stream = stream
        self.tty = stream.isatty() if tty is None else tty
        self.done = 0
        self.failed = 0
        self.started = time.monotonic()
        self._lock = threading.Lock()
        self._every = max(1, total // 10)

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
            if self.tty:
                width = 24
                filled = width * self.done // max(self.total, 1)
                bar = "#" * filled + "." * (width - filled)
                self.stream.write(f"\r[{bar}] {self._line()}")
                self.stream.flush()
            elif self.done % self._every == 0 or self.done == self.total:
                self.stream.write(f"worker: {self._line()}\n")
                self.stream.flush()

    def finish(self) -> None:
        """End the progress line."""
        if self.tty and self.done:
            self.stream.write("\n")
            self.stream.flush()
