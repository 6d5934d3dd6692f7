"""A monotonic clock the agent's unit tests move by hand (``clock.now += 5``)."""

from __future__ import annotations


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now
