"""Agent metrics in the Prometheus text exposition format (0.0.4), written by hand."""

from __future__ import annotations

import re
import threading
from collections import Counter
from collections.abc import Iterable, Mapping

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def escape(value: str) -> str:
    """A label value escaped for the text format (backslash, quote, newline)."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def reason_of(exc: BaseException) -> str:
    """``StartTimeout`` -> ``start_timeout`` (failure reason label)."""
    return _SNAKE.sub("_", type(exc).__name__).lower()


def _labels(pairs: Iterable[tuple[str, str]]) -> str:
    inner = ",".join(f'{name}="{escape(value)}"' for name, value in pairs)
    return f"{{{inner}}}" if inner else ""


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Counters of one agent process (thread-safe)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.starts: Counter[str] = Counter()
        self.failures: Counter[tuple[str, str]] = Counter()
        self.terminations: Counter[tuple[str, str]] = Counter()
        self.adopted: Counter[str] = Counter()
        self.start_seconds_sum: Counter[str] = Counter()
        self.start_seconds_count: Counter[str] = Counter()

    def started(self, ai: str, seconds: float) -> None:
        """An instance became ready after ``seconds`` (pull included)."""
        with self._lock:
            self.starts[ai] += 1
            self.start_seconds_sum[ai] += seconds
            self.start_seconds_count[ai] += 1

    def failed(self, ai: str, reason: str) -> None:
        """A start request for ``ai`` failed."""
        with self._lock:
            self.failures[(ai, reason)] += 1

    def terminated(self, ai: str, reason: str) -> None:
        """An instance was removed (request, idle, exited, shutdown, adoption)."""
        with self._lock:
            self.terminations[(ai, reason)] += 1

    def adopt(self, ai: str) -> None:
        """An instance left by a previous run of this agent was adopted."""
        with self._lock:
            self.adopted[ai] += 1

    def render(self, running: Mapping[str, int], max_instances: int) -> str:
        """The exposition text; ``running`` counts ready instances per AI."""
        with self._lock:
            families: list[
                tuple[str, str, str, list[tuple[tuple[tuple[str, str], ...], float]]]
            ] = [
                (
                    "aidock_agent_instances_running",
                    "gauge",
                    "Ready instances per AI.",
                    [((("ai", ai),), n) for ai, n in sorted(running.items())],
                ),
                (
                    "aidock_agent_max_instances",
                    "gauge",
                    "Configured maximum of instances.",
                    [((), max_instances)],
                ),
                (
                    "aidock_agent_instance_starts_total",
                    "counter",
                    "Instances started and ready.",
                    [((("ai", ai),), n) for ai, n in sorted(self.starts.items())],
                ),
                (
                    "aidock_agent_instance_start_failures_total",
                    "counter",
                    "Start requests that failed, by reason.",
                    [
                        ((("ai", ai), ("reason", reason)), n)
                        for (ai, reason), n in sorted(self.failures.items())
                    ],
                ),
                (
                    "aidock_agent_instance_terminations_total",
                    "counter",
                    "Instances removed, by reason.",
                    [
                        ((("ai", ai), ("reason", reason)), n)
                        for (ai, reason), n in sorted(self.terminations.items())
                    ],
                ),
                (
                    "aidock_agent_instances_adopted_total",
                    "counter",
                    "Running instances adopted from a previous run of this agent.",
                    [((("ai", ai),), n) for ai, n in sorted(self.adopted.items())],
                ),
            ]
            latency = [
                ("sum", sorted(self.start_seconds_sum.items())),
                ("count", sorted(self.start_seconds_count.items())),
            ]
        lines: list[str] = []
        for name, kind, help_text, samples in families:
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            lines += [f"{name}{_labels(labels)} {_number(v)}" for labels, v in samples]
        name = "aidock_agent_instance_start_seconds"
        lines += [
            f"# HELP {name} Seconds from request to ready (pull included).",
            f"# TYPE {name} summary",
        ]
        for suffix, items in latency:
            lines += [f"{name}_{suffix}{_labels([('ai', ai)])} {_number(v)}" for ai, v in items]
        return "\n".join(lines) + "\n"
