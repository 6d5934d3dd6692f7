"""Lifecycle steps that only replicated instances have (the swarm backend).

- **Readiness** of a service: every replica's task runs (as many running tasks as replicas
  wanted) and ``GET <task address>:<port><ready_path>`` answers 200 for each of them; the
  endpoint handed out is the service's DNS name (``dnsrr``: it resolves to every task),
  ``endpoints`` lists each task's URL. A service whose tasks all failed (past the restart
  bound) fails the request with 502 and Swarm's task errors; past the start timeout, 504.
- **Scaling** (``PATCH /v1/instances/{id}``): more replicas must fit ``max_instances``
  (replicas count, not instances); the request returns once all replicas are ready, or
  fails with 504 and leaves the service at the new count (Swarm keeps trying; the next
  ``GET`` shows what runs).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import ContainerInfo
from aidock.agent.errors import InvalidField, StartFailed, StartTimeout, TooManyInstances
from aidock.agent.instance import (
    LOG_TAIL_LINES,
    ContainerOps,
    Instance,
    Prober,
    port_of,
    task_endpoints,
)

log = logging.getLogger("aidock.agent.instances")


def check_replicas(backend: str, replicas: int, max_replicas: int) -> None:
    """422 naming ``replicas`` for a count this agent cannot run."""
    if replicas != 1 and backend != "swarm":
        raise InvalidField(
            f"replicas: {replicas} needs the swarm backend (this agent runs one container "
            "per instance; AIDOCK_AGENT_BACKEND=swarm)",
            "replicas",
        )
    if replicas < 1 or replicas > max_replicas:
        raise InvalidField(
            f"replicas: {replicas} is outside 1..{max_replicas} (the agent's max_replicas)",
            "replicas",
        )


def wait_service_ready(
    ops: ContainerOps,
    info: ContainerInfo,
    port: int,
    ready_path: str,
    timeout: float,
    *,
    probe: Prober,
    clock: Callable[[], float] = time.monotonic,
    poll_interval: float = 0.5,
) -> ContainerInfo:
    """``info``'s service once all its replicas answer ``ready_path`` (see the module)."""
    deadline = clock() + timeout
    while True:
        current = ops.inspect(info.id)
        if current is None or current.status == "failed":
            tail = ops.logs(info.id, LOG_TAIL_LINES) if current is not None else ""
            status = "removed" if current is None else "failed on every node it was placed"
            raise StartFailed(
                f"service {info.name} {status} before it was ready"
                + (f"; its tasks:\n{tail}" if tail else "")
            )
        urls = task_endpoints(current, port)
        if len(urls) >= current.replicas:
            remaining = max(0.1, min(2.0, deadline - clock()))
            if all(probe(url + ready_path, remaining) for url in urls):
                return current
        if clock() >= deadline:
            tail = ops.logs(info.id, LOG_TAIL_LINES)
            raise StartTimeout(
                f"service {info.name}: {len(urls)} of {current.replicas} replicas running, not "
                f"all answering GET {ready_path} within {timeout:g}s"
                + (f"; its tasks:\n{tail}" if tail else "")
            )
        time.sleep(poll_interval)


class Replicas:
    """The manager's replica operations (``InstanceManager`` inherits them)."""

    config: AgentConfig
    ops: ContainerOps
    probe: Prober
    clock: Callable[[], float]
    poll_interval: float
    _lock: threading.Lock

    def get(self, instance_id: str, *, touch: bool = False) -> Instance:
        raise NotImplementedError

    def _used(self) -> int:
        raise NotImplementedError

    def describe(self, instance_id: str) -> Instance:
        """``get`` with ``touch``; a service's task endpoints read now (tasks move)."""
        instance = self.get(instance_id, touch=True)
        if self.config.backend == "swarm":
            info = self.ops.inspect(instance.container_id)
            if info is not None:
                instance.endpoints = task_endpoints(info, port_of(instance.endpoint))
        return instance

    def scale(self, instance_id: str, replicas: int) -> Instance:
        """Set the replicas of a swarm instance; returns once all of them are ready.

        An unknown instance is 404 before the count is judged (422): the resource first, then
        what the body asks of it. The docker backend's one replica is its container: 1 is
        answered at once, or 404 when the container is gone (``ops.scale``)."""
        instance = self.get(instance_id, touch=True)
        check_replicas(self.config.backend, replicas, self.config.max_replicas)
        with self._lock:
            more = replicas - instance.replicas
            if more > 0 and self._used() + more > self.config.max_instances:
                raise TooManyInstances(
                    f"max_instances ({self.config.max_instances}) reached: {self._used()} "
                    f"replicas running or starting, {more} more asked"
                )
            before, instance.replicas = instance.replicas, replicas  # counted from now on
        try:
            info = self.ops.scale(instance.container_id, replicas)
        except BaseException:
            instance.replicas = before
            raise
        if self.config.backend != "swarm":
            return instance  # one container, still there: its one replica is ready
        port = port_of(instance.endpoint)
        timeout = self.config.start_timeout
        ready = wait_service_ready(
            self.ops,
            info,
            port,
            instance.ready_path,
            timeout,
            probe=self.probe,
            clock=self.clock,
            poll_interval=self.poll_interval,
        )
        instance.endpoints = task_endpoints(ready, port)
        log.info("instance %s scaled to %d replicas", instance_id, replicas)
        return instance
