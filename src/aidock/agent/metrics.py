"""Agent metrics with ``prometheus_client``: one registry per agent, the text format 0.0.4."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Gauge,
    Summary,
    generate_latest,
)

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4  # the format generate_latest writes
_SNAKE = re.compile(r"(?<!^)(?=[A-Z])")


def reason_of(exc: BaseException) -> str:
    """``StartTimeout`` -> ``start_timeout`` (failure reason label)."""
    return _SNAKE.sub("_", type(exc).__name__).lower()


class Metrics:
    """The metrics of one agent (its instance manager), in a registry of their own.

    Counters and the start-time summary count as events happen; the instances running and
    the configured maximum are read when the metrics are rendered.
    """

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        reg = self.registry
        self._running = Gauge(
            "aidock_agent_instances_running", "Ready instances per AI.", ["ai"], registry=reg
        )
        self._max_instances = Gauge(
            "aidock_agent_max_instances", "Configured maximum of instances.", registry=reg
        )
        self._starts = Counter(
            "aidock_agent_instance_starts", "Instances started and ready.", ["ai"], registry=reg
        )
        self._failures = Counter(
            "aidock_agent_instance_start_failures",
            "Start requests that failed, by reason.",
            ["ai", "reason"],
            registry=reg,
        )
        self._terminations = Counter(
            "aidock_agent_instance_terminations",
            "Instances removed, by reason.",
            ["ai", "reason"],
            registry=reg,
        )
        self._adopted = Counter(
            "aidock_agent_instances_adopted",
            "Running instances adopted from a previous run of this agent.",
            ["ai"],
            registry=reg,
        )
        self._start_seconds = Summary(
            "aidock_agent_instance_start_seconds",
            "Seconds from request to ready (pull included).",
            ["ai"],
            registry=reg,
        )
        self._render_lock = threading.Lock()  # the gauges set by one render are its own

    def started(self, ai: str, seconds: float) -> None:
        """An instance became ready after ``seconds`` (pull included)."""
        self._starts.labels(ai).inc()
        self._start_seconds.labels(ai).observe(seconds)

    def failed(self, ai: str, reason: str) -> None:
        """A start request for ``ai`` failed."""
        self._failures.labels(ai, reason).inc()

    def terminated(self, ai: str, reason: str) -> None:
        """An instance was removed (request, idle, exited, shutdown, adoption)."""
        self._terminations.labels(ai, reason).inc()

    def adopt(self, ai: str) -> None:
        """An instance left by a previous run of this agent was adopted."""
        self._adopted.labels(ai).inc()

    def render(self, running: Mapping[str, int], max_instances: int) -> str:
        """The exposition text; ``running`` counts ready instances per AI."""
        with self._render_lock:
            self._running.clear()  # an AI no longer running has no sample
            for ai, count in sorted(running.items()):
                self._running.labels(ai).set(count)
            self._max_instances.set(max_instances)
            return generate_latest(self.registry).decode("utf-8")
