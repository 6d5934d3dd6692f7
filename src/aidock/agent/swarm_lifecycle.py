"""Lifecycle steps that only replicated instances have (the swarm backend).

- **Readiness** of a service: every replica answers ``GET <task address>:<port><ready_path>``
  with 200 (as many tasks answering as replicas wanted). The agent probes a task as soon as
  Swarm starts its container (task state ``starting`` or ``running``, desired ``running``,
  with an address on the overlay network), each task in a thread of its own, the same probe
  as the docker backend's; it does not wait for Swarm's own health check, which keeps a task
  ``starting`` until its first passing check (every ``HEALTH_START_INTERVAL``). One more
  condition: at least one of those tasks is ``running`` for Swarm, because Swarm puts a task
  under the service's DNS name only once its health check passed, and that name is the
  ``endpoint`` handed out (``dnsrr``: it resolves to every such task). ``endpoints`` lists
  each ready task's URL. A service whose tasks all failed (past the restart bound) fails the
  request with 502 and Swarm's task errors; past the start timeout, 504.
- **Endpoints read later** (``GET``): the tasks Swarm reports running, and the tasks it is
  still starting that the agent saw ready (a replica handed out stays listed while Swarm's
  health check catches up); a task Swarm restarts elsewhere appears once Swarm reports it
  running.
- **Scaling** (``PATCH /v1/instances/{id}``): more replicas must fit ``max_instances``
  (replicas count, not instances); the request returns once all replicas are ready, or
  fails with 504 and leaves the service at the new count (Swarm keeps trying; the next
  ``GET`` shows what runs). Scaling down, the service asks for fewer tasks at once, but
  Swarm's orchestrator picks the tasks to stop a moment later (it sets their desired state
  to ``shutdown``): until it has, every task still answers, so readiness also waits until
  Swarm wants no more tasks than replicas, and no endpoint on its way out is handed out.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import ContainerInfo, TaskInfo
from aidock.agent.errors import InvalidField, StartFailed, StartTimeout, TooManyInstances
from aidock.agent.instance import (
    LOG_TAIL_LINES,
    ContainerOps,
    Instance,
    Prober,
    port_of,
    task_endpoints,
    task_url,
)

log = logging.getLogger("aidock.agent.instances")

# A probe's longest wait for an answer (as the docker backend's); probes in flight at once.
PROBE_TIMEOUT = 2.0
MAX_PROBES = 8
# Polls between two reads of a service's tasks while only its replicas' probes are awaited.
QUIET_EVERY = 5


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
    poll_interval: float = 0.1,
) -> list[str]:
    """The URLs of ``info``'s replicas once every one answers ``ready_path`` (see the module).

    Swarm's tasks are read every ``poll_interval`` seconds, and every ``QUIET_EVERY`` polls
    while every replica's task has started and only their probes are awaited (each read is
    two Engine API calls through the policy proxy, on the cores the replicas start on); a
    task's probe runs in the background (a replica that is still booting may hold a
    connection for the probe's whole timeout) and a new one starts once it answered anything
    but 200.
    """
    began = clock()
    deadline = began + timeout
    pool = ThreadPoolExecutor(max_workers=MAX_PROBES, thread_name_prefix="agent-probe")
    probes: dict[str, Future[bool]] = {}  # task id -> its latest probe
    ready: dict[str, str] = {}  # task id -> URL, answered 200
    # When the first task started and when every replica first answered: logged with the
    # time the DNS name took, so a slow start says which step it waited for.
    first_started: float | None = None
    all_answered: float | None = None
    current: ContainerInfo | None = None
    started: list[TaskInfo] = []
    polls = 0
    try:
        while True:
            probing = current is not None and len(started) >= current.replicas > len(ready)
            if current is None or not probing or polls % QUIET_EVERY == 0:
                current = ops.inspect(info.id)
            polls += 1
            if current is None or current.status == "failed":
                tail = ops.logs(info.id, LOG_TAIL_LINES) if current is not None else ""
                status = "removed" if current is None else "failed on every node it was placed"
                raise StartFailed(
                    f"service {info.name} {status} before it was ready"
                    + (f"; its tasks:\n{tail}" if tail else "")
                )
            started = [t for t in current.tasks if t.started and t.address]
            if started and first_started is None:
                first_started = clock()
            live = {t.id for t in started}
            for task_id in [t for t in ready if t not in live]:  # stopped meanwhile
                del ready[task_id]
            for task in started:
                if task.id in ready:
                    continue
                url = task_url(task, port)
                last = probes.get(task.id)
                if last is not None and last.done() and last.result():
                    ready[task.id] = url
                elif last is None or last.done():
                    remaining = max(0.1, min(PROBE_TIMEOUT, deadline - clock()))
                    probes[task.id] = pool.submit(probe, url + ready_path, remaining)
            named = any(t.running for t in started if t.id in ready)  # under the DNS name
            # Scaled down: Swarm still wants more tasks to run than asked for a moment.
            extra = len(started) - current.replicas
            if len(ready) >= current.replicas and all_answered is None:
                all_answered = clock()
            if len(ready) >= current.replicas and named and extra <= 0:  # done
                log.info(
                    "service %s: %d replicas ready in %.2fs (first task started %.2fs, every "
                    "replica answering %.2fs, then one under the DNS name)",
                    info.name,
                    len(ready),
                    clock() - began,
                    (first_started or began) - began,
                    (all_answered or began) - began,
                )
                return [ready[t.id] for t in started if t.id in ready]
            if clock() >= deadline:
                tail = ops.logs(info.id, LOG_TAIL_LINES)
                raise StartTimeout(
                    f"service {info.name}: {len(ready)} of {current.replicas} replicas "
                    f"answering GET {ready_path} within {timeout:g}s ({len(started)} started"
                    + (", none yet healthy for Swarm" if ready and not named else "")
                    + (f", {extra} more than wanted not yet stopped by Swarm" if extra > 0 else "")
                    + ")"
                    + (f"; its tasks:\n{tail}" if tail else "")
                )
            time.sleep(poll_interval)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


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
        """``get`` with ``touch``; a service's task endpoints read now (tasks move; see the
        module)."""
        instance = self.get(instance_id, touch=True)
        if self.config.backend == "swarm":
            info = self.ops.inspect(instance.container_id)
            if info is not None:
                port = port_of(instance.endpoint)
                instance.endpoints = task_endpoints(info, port, instance.endpoints)
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
        instance.endpoints = wait_service_ready(
            self.ops,
            info,
            port,
            instance.ready_path,
            timeout,
            probe=self.probe,
            clock=self.clock,
            poll_interval=self.poll_interval,
        )
        log.info("instance %s scaled to %d replicas", instance_id, replicas)
        return instance
