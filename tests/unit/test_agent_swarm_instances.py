"""Replicated instances (swarm backend) in the manager and the API, against an in-memory swarm.

``FakeSwarm`` is a fake of the ``ContainerOps`` port only (services and their tasks as
``SwarmOps`` reports them); the probe is a set of URLs that answer.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from fakeclock import Clock
from pydantic import ValidationError
from test_agent_fakes import FakeCatalog

from aidock.agent.app import create_app
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import ContainerInfo, ImageInfo, RunSpec, TaskInfo
from aidock.agent.errors import InvalidField, StartFailed, TooManyInstances
from aidock.agent.instances import InstanceManager
from aidock.agent.swarm_ops import hardening_problems, service_spec
from aidock.schemas.agent import ScaleRequest

OWNER = "aidock-agent"


class FakeSwarm:
    """Services with ``replicas`` running tasks at 10.0.<n>.<slot> (set ``pending`` to hold
    them back, ``fail`` to make every task fail)."""

    def __init__(self, config: AgentConfig) -> None:
        self.config = config
        self.services: dict[str, ContainerInfo] = {}
        self.pending = False
        self.fail = False
        self.removed: list[str] = []
        self.scaled: list[tuple[str, int]] = []
        self._next = 0

    def _tasks(self, number: int, replicas: int) -> tuple[TaskInfo, ...]:
        if self.fail:
            return (TaskInfo("t0", 1, "n1", "failed", "shutdown", None, "ai-1", "exit 1"),)
        state = "pending" if self.pending else "running"
        return tuple(
            TaskInfo(
                f"t{number}-{slot}",
                slot,
                f"n{slot % 2}",
                state,
                "running",
                f"10.0.{number}.{slot}" if state == "running" else None,
                f"ai-{slot % 2}",
            )
            for slot in range(1, replicas + 1)
        )

    def _status(self, info: ContainerInfo) -> ContainerInfo:
        number = int(info.id.removeprefix("svc"))
        tasks = self._tasks(number, info.replicas)
        status = "failed" if self.fail else "starting" if self.pending else "running"
        return replace(info, tasks=tasks, status=status)

    def ping(self) -> bool:
        return True

    def ensure_network(self) -> None:
        pass

    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo:
        return ImageInfo(f"{ref.name}@{digest}", "", digest, {}, False)

    def run(self, run: RunSpec) -> ContainerInfo:
        self._next += 1
        body = service_spec(self.config, run)
        info = ContainerInfo(
            id=f"svc{self._next}",
            name=body["Name"],
            labels=body["Labels"],
            status="starting",
            image=run.image,
            problems=hardening_problems(body, OWNER),
            replicas=run.replicas,
        )
        self.services[info.id] = info
        return info

    def inspect(self, container_id: str) -> ContainerInfo | None:
        info = self.services.get(container_id)
        return None if info is None else self._status(info)

    def logs(self, container_id: str, lines: int = 20) -> str:
        return "task 1 on ai-1: failed (exit 1)" if self.fail else ""

    def remove(self, container_id: str, *, graceful: bool = True) -> bool:
        self.removed.append(container_id)
        return self.services.pop(container_id, None) is not None

    def scale(self, container_id: str, replicas: int) -> ContainerInfo:
        if container_id not in self.services:
            raise StartFailed(f"service {container_id} no longer exists")
        self.scaled.append((container_id, replicas))
        self.services[container_id] = replace(self.services[container_id], replicas=replicas)
        return self._status(self.services[container_id])

    def list_owned(self) -> list[ContainerInfo]:
        return [self._status(info) for info in self.services.values()]


@pytest.fixture
def config() -> AgentConfig:
    return AgentConfig(backend="swarm", max_instances=6, start_timeout=0.3)


@pytest.fixture
def swarm(config: AgentConfig) -> FakeSwarm:
    return FakeSwarm(config)


def manager_of(
    config: AgentConfig, swarm: FakeSwarm, clock: Clock | None = None
) -> InstanceManager:
    return InstanceManager(
        config,
        swarm,
        FakeCatalog(),
        probe=lambda url, timeout: True,
        clock=clock or Clock(),
        poll_interval=0.01,
    )


def test_replicas_start_ready_with_every_task_endpoint(
    config: AgentConfig, swarm: FakeSwarm
) -> None:
    instance = manager_of(config, swarm).create("extraction", "0.1.0", replicas=3)
    assert instance.replicas == 3
    assert instance.endpoint == f"http://aidock-ai-extraction-{instance.id}:3000"
    assert instance.endpoints == [f"http://10.0.1.{slot}:3000" for slot in (1, 2, 3)]
    out = instance.out(900)
    assert (out.replicas, out.endpoints) == (3, instance.endpoints)


def test_readiness_waits_for_every_replica_to_answer(config: AgentConfig, swarm: FakeSwarm) -> None:
    answered: list[str] = []

    def probe(url: str, timeout: float) -> bool:
        answered.append(url)
        return not url.startswith("http://10.0.1.3:")  # the third replica never answers

    manager = InstanceManager(config, swarm, FakeCatalog(), probe=probe, poll_interval=0.01)
    with pytest.raises(Exception, match="2 of 3 replicas answering GET /readyz") as caught:
        manager.create("extraction", "0.1.0", replicas=3)
    assert caught.value.status == 504  # type: ignore[attr-defined]
    assert swarm.services == {} and swarm.removed == ["svc1"]


def test_a_service_whose_tasks_all_fail_is_removed_with_their_errors(
    config: AgentConfig, swarm: FakeSwarm
) -> None:
    swarm.fail = True
    with pytest.raises(StartFailed, match="exit 1"):
        manager_of(config, swarm).create("extraction", "0.1.0", replicas=2)
    assert swarm.services == {}


def test_capacity_counts_replicas(config: AgentConfig, swarm: FakeSwarm) -> None:
    manager = manager_of(config, swarm)
    manager.create("extraction", "0.1.0", replicas=4)
    manager.create("rag", "0.1.0", replicas=2)
    with pytest.raises(TooManyInstances, match="6 replicas"):
        manager.create("rag", "0.1.0")


def test_replicas_above_one_need_the_swarm_backend(swarm: FakeSwarm) -> None:
    manager = manager_of(AgentConfig(), swarm)
    with pytest.raises(InvalidField) as caught:
        manager.create("rag", "0.1.0", replicas=2)
    assert caught.value.field == "replicas" and caught.value.status == 422
    with pytest.raises(InvalidField, match="max_replicas"):
        manager_of(AgentConfig(backend="swarm", max_replicas=2), swarm).create("rag", "1", 3)


def test_scaling_up_and_down(config: AgentConfig, swarm: FakeSwarm) -> None:
    manager = manager_of(config, swarm)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    assert manager.scale(instance.id, 5).endpoints[-1] == "http://10.0.1.5:3000"
    with pytest.raises(TooManyInstances):
        manager.scale(instance.id, 7)
    assert manager.scale(instance.id, 1).replicas == 1
    assert swarm.scaled == [("svc1", 5), ("svc1", 1)]
    manager.create("rag", "0.1.0", replicas=5)  # the room scaling down gave back


def test_a_failed_scale_keeps_the_count(config: AgentConfig, swarm: FakeSwarm) -> None:
    manager = manager_of(config, swarm)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    swarm.services.clear()  # removed behind the agent's back
    with pytest.raises(StartFailed):
        manager.scale(instance.id, 3)
    assert manager.get(instance.id).replicas == 2


def test_get_reads_the_task_endpoints_now(config: AgentConfig, swarm: FakeSwarm) -> None:
    manager = manager_of(config, swarm)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    swarm.services["svc1"] = replace(swarm.services["svc1"], replicas=3)  # a task came back
    assert len(manager.describe(instance.id).endpoints) == 3


def test_get_keeps_a_replica_handed_out_while_swarm_still_starts_it(
    config: AgentConfig, swarm: FakeSwarm
) -> None:
    # The agent probed both ready; Swarm reports the second running once its health check
    # passed: until then GET lists it still, and does not list a task it has not seen ready.
    manager = manager_of(config, swarm)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    first, second = swarm._tasks(1, 2)
    starting = replace(second, state="starting")
    other = replace(second, id="t1-3", slot=3, state="starting", address="10.0.1.3")
    swarm._tasks = lambda number, replicas: (first, starting, other)  # type: ignore[method-assign]
    assert manager.describe(instance.id).endpoints == [
        "http://10.0.1.1:3000",
        "http://10.0.1.2:3000",
    ]


def test_a_service_swarm_is_rescheduling_is_kept(config: AgentConfig, swarm: FakeSwarm) -> None:
    manager = manager_of(config, swarm)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    swarm.pending = True  # node lost: its tasks are being placed again
    assert manager.prune_dead() == []
    swarm.pending, swarm.fail = False, True  # past the restart bound
    assert manager.prune_dead() == [instance.id]
    assert swarm.services == {}


def test_idle_services_are_reaped(config: AgentConfig, swarm: FakeSwarm) -> None:
    clock = Clock()
    manager = manager_of(config, swarm, clock)
    instance = manager.create("extraction", "0.1.0", replicas=2)
    clock.now += config.idle_ttl + 1
    assert instance.id in manager.reap()
    assert swarm.services == {}


def test_a_restarted_agent_adopts_its_services(config: AgentConfig, swarm: FakeSwarm) -> None:
    first = manager_of(config, swarm).create("extraction", "0.1.0", replicas=3)
    swarm.services["svc9"] = replace(
        swarm.services["svc1"], id="svc9", name="aidock-ai-extraction-zzz", problems=("user",)
    )
    report = manager_of(config, swarm).reconcile()
    assert report.adopted == [first.container] and report.removed == ["aidock-ai-extraction-zzz"]
    assert list(swarm.services) == ["svc1"]


@pytest.fixture
def client(config: AgentConfig, swarm: FakeSwarm, tmp_path: Any) -> Iterator[Any]:
    token = tmp_path / "token"
    token.write_text("t" * 32)
    app = create_app(
        config.model_copy(update={"token_file": token}),
        ops=swarm,
        catalog=FakeCatalog(),
        probe=lambda url, timeout: True,
        reaper=False,
    )
    yield app.test_client()


AUTH = {"Authorization": "Bearer " + "t" * 32}


def test_api_creates_scales_and_shows_replicas(client: Any) -> None:
    created = client.post(
        "/v1/instances", json={"ai": "extraction", "version": "0.1.0", "replicas": 2}, headers=AUTH
    )
    assert created.status_code == 201, created.json
    assert created.json["replicas"] == 2 and len(created.json["endpoints"]) == 2
    path = created.headers["Location"]
    scaled = client.patch(path, json={"replicas": 3}, headers=AUTH)
    assert scaled.status_code == 200 and scaled.json["replicas"] == 3
    shown = client.get(path, headers=AUTH).json
    assert shown["endpoints"] == [f"http://10.0.1.{slot}:3000" for slot in (1, 2, 3)]


@pytest.mark.parametrize(
    "body", [{"replicas": 0}, {"replicas": "2"}, {"replicas": 2, "ai": "x"}, {}, {"replicas": 1e3}]
)
def test_api_refuses_bad_scale_bodies_naming_the_field(client: Any, body: dict[str, Any]) -> None:
    created = client.post("/v1/instances", json={"ai": "rag", "version": "1"}, headers=AUTH)
    answer = client.patch(created.headers["Location"], json=body, headers=AUTH)
    assert answer.status_code == 422
    assert answer.json["field"] in {"replicas", "ai"}


@pytest.fixture
def docker_backend(tmp_path: Any) -> Any:
    """The API of an agent with the default (docker) backend."""
    token = tmp_path / "token"
    token.write_text("t" * 32)
    config = AgentConfig(token_file=token)
    app = create_app(
        config, ops=FakeSwarm(config), catalog=FakeCatalog(), probe=lambda u, t: True, reaper=False
    )
    return app.test_client()


def test_api_refuses_replicas_without_the_swarm_backend(docker_backend: Any) -> None:
    answer = docker_backend.post(
        "/v1/instances", json={"ai": "rag", "version": "1", "replicas": 2}, headers=AUTH
    )
    assert (answer.status_code, answer.json["field"]) == (422, "replicas")


def test_scaling_an_unknown_instance_is_404_before_the_count_is_judged(
    docker_backend: Any,
) -> None:
    # Found by the OpenAPI fuzz test on the docker backend: PATCH of no instance answered 422.
    answer = docker_backend.patch("/v1/instances/0", json={"replicas": 255}, headers=AUTH)
    assert answer.status_code == 404


@pytest.mark.parametrize(
    ("body", "ok"), [('{"replicas": 3.0}', True), ('{"replicas": 2.5}', False)]
)
def test_an_integral_json_number_is_a_replica_count(body: str, ok: bool) -> None:
    # JSON Schema's integer includes 3.0; the OpenAPI fuzz test sends it.
    if ok:
        assert ScaleRequest.model_validate_json(body).replicas == 3
    else:
        with pytest.raises(ValidationError):
            ScaleRequest.model_validate_json(body)
