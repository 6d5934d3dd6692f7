"""Readiness of a replicated service (``swarm_lifecycle.wait_service_ready``) and the task
endpoints handed out, against a scripted service: each ``inspect`` shows the next state of
its tasks (the last one repeats), the probe is a set of URLs that answer.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

import pytest

from aidock.agent.docker_ops import ContainerInfo, TaskInfo
from aidock.agent.errors import StartFailed, StartTimeout
from aidock.agent.instance import task_endpoints
from aidock.agent.swarm_lifecycle import QUIET_EVERY, wait_service_ready

PORT = 5001


def task(slot: int, state: str, address: str | None = "auto", desired: str = "running") -> TaskInfo:
    where = f"10.0.0.{slot}" if address == "auto" else address
    return TaskInfo(f"t{slot}", slot, "n1", state, desired, where, "ai-1")


def url(slot: int) -> str:
    return f"http://10.0.0.{slot}:{PORT}"


class Service:
    """``ContainerOps.inspect`` and ``logs`` of one service whose tasks move through
    ``steps`` (one step per inspect; the last one stays)."""

    def __init__(self, replicas: int, steps: Iterable[tuple[TaskInfo, ...]]) -> None:
        self.replicas = replicas
        self.steps = list(steps)
        self.inspected = 0

    def inspect(self, container_id: str) -> ContainerInfo:
        tasks = self.steps[min(self.inspected, len(self.steps) - 1)]
        self.inspected += 1
        status = "running" if any(t.running for t in tasks) else "starting"
        return ContainerInfo(
            "svc1", "aidock-ai-rag-x", {}, status, replicas=self.replicas, tasks=tasks
        )

    def logs(self, container_id: str, lines: int = 20) -> str:
        return "task 1 on ai-1: starting"


class Answers:
    """A probe: the URLs in ``ready`` answer 200; every call recorded."""

    def __init__(self, *ready: str) -> None:
        self.ready = set(ready)
        self.asked: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, target: str, timeout: float) -> bool:
        with self.lock:
            self.asked.append(target)
        return any(target.startswith(u + "/") for u in self.ready)


def wait(service: Service, probe: Answers, timeout: float = 0.5) -> list[str]:
    info = service.inspect("svc1")
    service.inspected = 0
    return wait_service_ready(
        service,  # type: ignore[arg-type]
        info,
        PORT,
        "/readyz",
        timeout,
        probe=probe,
        poll_interval=0.005,
    )


def test_a_starting_task_with_an_address_is_probed_and_counts() -> None:
    # Swarm keeps a task "starting" until its health check passed: the agent does not wait.
    service = Service(2, [(task(1, "running"), task(2, "starting"))])
    probe = Answers(url(1), url(2))
    assert wait(service, probe) == [url(1), url(2)]
    assert url(2) + "/readyz" in probe.asked


def test_a_task_without_an_address_is_not_counted() -> None:
    service = Service(2, [(task(1, "running"), task(2, "starting", address=None))])
    probe = Answers(url(1), url(2))
    with pytest.raises(StartTimeout, match="1 of 2 replicas answering GET /readyz") as caught:
        wait(service, probe, timeout=0.1)
    assert caught.value.status == 504
    assert all(asked.startswith(url(1)) for asked in probe.asked)


@pytest.mark.parametrize(
    ("state", "desired"),
    [
        ("pending", "running"),
        ("preparing", "running"),
        ("running", "shutdown"),
        ("failed", "shutdown"),
    ],
)
def test_tasks_not_started_or_on_their_way_out_are_neither_probed_nor_counted(
    state: str, desired: str
) -> None:
    service = Service(2, [(task(1, "running"), task(2, state, desired=desired))])
    probe = Answers(url(1), url(2))
    with pytest.raises(StartTimeout):
        wait(service, probe, timeout=0.1)
    assert not any(asked.startswith(url(2)) for asked in probe.asked)


def test_ready_waits_for_one_task_under_the_service_name() -> None:
    # Both answer while Swarm starts them; its DNS name lists a task once it is running.
    starting = (task(1, "starting"), task(2, "starting"))
    service = Service(2, [starting, starting, starting, (task(1, "running"), task(2, "starting"))])
    assert wait(service, Answers(url(1), url(2))) == [url(1), url(2)]
    assert service.inspected == 4


def test_ready_replicas_but_none_healthy_for_swarm_time_out_saying_so() -> None:
    service = Service(1, [(task(1, "starting"),)])
    with pytest.raises(StartTimeout, match="none yet healthy for Swarm"):
        wait(service, Answers(url(1)), timeout=0.1)


def test_a_task_that_stops_after_answering_no_longer_counts() -> None:
    # Replicas 1 and 2 answer while neither is under the service's name yet; 2 then fails
    # and Swarm starts 3 in its place: ready once 3 answers, 2 not handed out.
    first = (task(1, "starting"), task(2, "starting"), task(3, "starting", address=None))
    later = (task(1, "running"), task(2, "failed", desired="shutdown"), task(3, "starting"))
    service = Service(2, [first, first, first, later])
    assert wait(service, Answers(url(1), url(2), url(3))) == [url(1), url(3)]


def test_a_scale_down_waits_until_swarm_stops_wanting_the_extra_task() -> None:
    # Scaled from 3 to 2: the service asks for 2 at once, but Swarm's orchestrator marks
    # the task it removes (desired "shutdown") a moment later. Until then all three run and
    # answer; the one on its way out is not handed out.
    three = (task(1, "running"), task(2, "running"), task(3, "running"))
    two = (task(1, "running"), task(2, "running"), task(3, "running", desired="shutdown"))
    service = Service(2, [three, three, three, three, two])
    assert wait(service, Answers(url(1), url(2), url(3))) == [url(1), url(2)]
    assert service.inspected == 5


def test_a_scale_down_swarm_does_not_carry_out_times_out_saying_so() -> None:
    three = (task(1, "running"), task(2, "running"), task(3, "running"))
    with pytest.raises(StartTimeout, match="3 started, 1 more than wanted"):
        wait(Service(2, [three]), Answers(url(1), url(2), url(3)), timeout=0.1)


def test_a_slow_probe_does_not_hold_back_the_other_replicas() -> None:
    release = threading.Event()
    asked: list[str] = []

    def probe(target: str, timeout: float) -> bool:
        asked.append(target)
        if target.startswith(url(1) + "/") and not release.is_set():
            release.wait(timeout)  # a replica still booting holds the connection
            return False
        if target.startswith(url(2) + "/"):
            release.set()  # probed while the first probe still waits
        return True

    service = Service(2, [(task(1, "running"), task(2, "running"))])
    info = service.inspect("svc1")
    urls = wait_service_ready(
        service,  # type: ignore[arg-type]
        info,
        PORT,
        "/readyz",
        5.0,
        probe=probe,
        poll_interval=0.005,
    )
    assert urls == [url(1), url(2)]


def test_a_service_whose_tasks_all_failed_fails_the_wait() -> None:
    class Failed(Service):
        def inspect(self, container_id: str) -> ContainerInfo:
            info = super().inspect(container_id)
            return ContainerInfo(info.id, info.name, {}, "failed", replicas=1, tasks=info.tasks)

    service = Failed(1, [(task(1, "failed", desired="shutdown"),)])
    with pytest.raises(StartFailed, match="failed on every node") as caught:
        wait(service, Answers(url(1)))
    assert caught.value.status == 502


def test_endpoints_are_running_tasks_and_started_ones_seen_ready() -> None:
    info = ContainerInfo(
        "svc1",
        "aidock-ai-rag-x",
        {},
        "running",
        replicas=4,
        tasks=(
            task(1, "running"),
            task(2, "starting"),  # answered the agent's probe: handed out
            task(3, "starting"),  # restarted by Swarm, not yet seen ready
            task(4, "running", desired="shutdown"),
        ),
    )
    assert task_endpoints(info, PORT) == [url(1)]
    assert task_endpoints(info, PORT, [url(2), url(4)]) == [url(1), url(2)]


def test_tasks_are_read_less_often_while_only_probes_are_awaited() -> None:
    # Both tasks started from the first read on; replica 2 answers only after a while.
    service = Service(2, [(task(1, "running"), task(2, "starting"))])
    probe = Answers(url(1))
    threading.Timer(0.2, lambda: probe.ready.add(url(2))).start()
    assert wait(service, probe) == [url(1), url(2)]
    polls = len([a for a in probe.asked if a.startswith(url(2))])
    # One read per QUIET_EVERY polls while probing (each poll probes replica 2 again).
    assert service.inspected <= polls // QUIET_EVERY + 3, (service.inspected, polls)
    assert polls >= 2 * QUIET_EVERY
