"""Instance lifecycle without Docker: adoption policy, reaper, hardening checks, pulls."""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace
from typing import Any

import pytest
import requests
from docker.errors import APIError, NotFound
from fakeclock import Clock
from test_agent_fakes import SITE_AIS, FakeCatalog, FakeOps

from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import (
    ContainerInfo,
    DockerOps,
    RunSpec,
    classify_pull_error,
    container_info,
    hardening_problems,
    run_kwargs,
)
from aidock.agent.errors import (
    DockerUnavailable,
    ImageNotFound,
    RegistryError,
    TooManyInstances,
    UnknownInstance,
)
from aidock.agent.instances import InstanceManager
from aidock.agent.metrics import Metrics, reason_of

OWNER = "unit"


@pytest.fixture
def config() -> AgentConfig:
    return AgentConfig(owner_id=OWNER, max_instances=2, idle_ttl=60, start_timeout=1)


@pytest.fixture
def ops(config: AgentConfig) -> FakeOps:
    return FakeOps(config)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def manager_of(
    config: AgentConfig, ops: FakeOps, clock: Clock | None = None, ready: set[str] | None = None
) -> InstanceManager:
    def probe(url: str, timeout: float) -> bool:
        return ready is None or url in ready

    return InstanceManager(
        config, ops, FakeCatalog(), probe=probe, clock=clock or Clock(), poll_interval=0.01
    )


def owned(
    name_id: str,
    *,
    ai: str = "rag",
    status: str = "running",
    port: int | None = 41000,
    started: str = "2026-01-01T00:00:00Z",
    problems: tuple[str, ...] = (),
) -> ContainerInfo:
    labels = {
        **(SITE_AIS[ai].to_labels() if ai in SITE_AIS else {}),  # the image's labels
        "ai.aidock.owner": OWNER,
        "ai.aidock.ai": ai,
        "ai.aidock.version": "0.1.0",
        "ai.aidock.instance": name_id,
        "ai.aidock.started-at": started,
    }
    return ContainerInfo(
        id=f"cid-{name_id}",
        name=f"aidock-ai-{ai}-{name_id}",
        labels=labels,
        status=status,
        image="localhost:5000/aidock/rag:0.1.0",
        host_ports={5001: port} if port else {},
        problems=problems,
    )


def test_adoption_keeps_running_hardened_ready_containers_and_removes_the_rest(
    config: AgentConfig, ops: FakeOps
) -> None:
    ops.add(owned("aaaaaaaaaaaa", port=41001))  # adopted
    ops.add(owned("bbbbbbbbbbbb", status="exited"))
    ops.add(owned("cccccccccccc", problems=("root filesystem is writable",)))
    ops.add(owned("dddddddddddd", ai="nomanifest"))
    ops.add(owned("eeeeeeeeeeee", port=41005))  # not ready
    ops.add(owned("ffffffffffff", port=None))  # port not published
    wrong_name = owned("gggggggggggg")
    ops.add(ContainerInfo(**{**wrong_name.__dict__, "name": "aidock-ai-rag-zzz"}))
    manager = manager_of(config, ops, ready={"http://127.0.0.1:41001/readyz"})
    report = manager.reconcile()
    assert report.adopted == ["aidock-ai-rag-aaaaaaaaaaaa"]
    assert len(report.removed) == 6
    assert [c.name for c in ops.containers.values()] == ["aidock-ai-rag-aaaaaaaaaaaa"]
    instance = manager.get("aaaaaaaaaaaa")
    assert instance.endpoint == "http://127.0.0.1:41001"
    assert instance.schema_version == "rag/v1"
    assert instance.started_at.isoformat() == "2026-01-01T00:00:00+00:00"
    text = manager.metrics.render(manager.running_by_ai(), 2)
    assert 'aidock_agent_instances_adopted_total{ai="rag"} 1' in text
    assert 'aidock_agent_instance_terminations_total{ai="rag",reason="adoption"} 5' in text


def test_adoption_keeps_the_oldest_up_to_max_instances(config: AgentConfig, ops: FakeOps) -> None:
    ops.add(owned("000000000003", started="2026-01-03T00:00:00Z"))
    ops.add(owned("000000000001", started="2026-01-01T00:00:00Z"))
    ops.add(owned("000000000002", started="2026-01-02T00:00:00Z"))
    manager = manager_of(config, ops)
    report = manager.reconcile()
    assert [i.id for i in manager.list()] == ["000000000001", "000000000002"]
    assert report.removed == ["aidock-ai-rag-000000000003"]


def test_network_mode_adoption_probes_the_container_name(ops: FakeOps) -> None:
    config = AgentConfig(owner_id=OWNER, endpoint_mode="network")
    ops.add(owned("aaaaaaaaaaaa", port=None))
    manager = manager_of(config, ops, ready={"http://aidock-ai-rag-aaaaaaaaaaaa:5001/readyz"})
    assert manager.reconcile().adopted == ["aidock-ai-rag-aaaaaaaaaaaa"]


def test_start_runs_adoption_once_per_process(config: AgentConfig, ops: FakeOps) -> None:
    manager = manager_of(config, ops)
    assert manager.start(reaper=False) is not None
    assert manager.start(reaper=False) is None
    assert ops.networks == 1


def test_adoption_waits_for_docker_when_it_does_not_answer_at_start(
    config: AgentConfig, ops: FakeOps, clock: Clock
) -> None:
    ops.add(owned("aaaaaaaaaaaa"))
    manager = manager_of(config, ops, clock)
    ops.docker_up = False
    assert manager.start(reaper=False) is None  # started anyway: the API answers
    assert manager.start(reaper=False) is None and manager.list() == []
    clock.now += 7
    assert manager.check_docker() is False
    assert manager.docker_down_for() == 7
    ops.docker_up = True
    assert manager.check_docker() is True
    assert [i.id for i in manager.list()] == ["aaaaaaaaaaaa"]  # adopted once it answered
    assert manager.docker_down_for() == 0 and ops.networks == 1


# -- Docker outages -----------------------------------------------------------------------


def test_an_outage_keeps_the_instances_and_then_removes_what_nobody_holds(
    config: AgentConfig, ops: FakeOps, clock: Clock
) -> None:
    manager = manager_of(config, ops, clock)
    manager.start(reaper=False)
    kept = manager.create("rag", "0.1.0")
    gone = manager.create("rag", "0.1.0")
    ops.docker_up = False  # dockerd restarts; live-restore keeps the containers running
    assert manager.check_docker() is False
    with pytest.raises(DockerUnavailable, match="removed as soon as Docker answers again"):
        manager.terminate(gone.id)
    assert [i.id for i in manager.list()] == [kept.id]  # still handed out
    assert manager.get(kept.id, touch=True) is kept
    with pytest.raises(UnknownInstance, match="is being terminated"):
        manager.get(gone.id)
    with pytest.raises(DockerUnavailable):  # the pending one still counts: full, prune fails
        manager.create("rag", "0.1.0")
    ops.add(owned("ffffffffffff"))  # a start cut short by the outage: ready, but nobody's
    ops.docker_up = True
    assert manager.check_docker() is True
    assert [c.name for c in ops.containers.values()] == [kept.container]
    assert [i.id for i in manager.list()] == [kept.id]  # nothing adopted after an outage
    with pytest.raises(UnknownInstance, match="no instance"):  # a retried DELETE: 404
        manager.terminate(gone.id)
    text = manager.metrics.render(manager.running_by_ai(), 2)
    assert 'aidock_agent_instance_terminations_total{ai="rag",reason="request"} 1' in text
    assert 'aidock_agent_instance_terminations_total{ai="rag",reason="stray"} 1' in text


def test_a_retried_delete_removes_a_pending_termination_itself(
    config: AgentConfig, ops: FakeOps
) -> None:
    manager = manager_of(config, ops)
    instance = manager.create("rag", "0.1.0")
    ops.docker_up = False
    with pytest.raises(DockerUnavailable):
        manager.terminate(instance.id)
    with pytest.raises(DockerUnavailable):  # still silent: still pending
        manager.terminate(instance.id)
    ops.docker_up = True
    manager.terminate(instance.id)
    assert ops.containers == {} and manager.remove_pending() == []


def test_the_reaper_carries_out_pending_terminations(config: AgentConfig, ops: FakeOps) -> None:
    manager = manager_of(config, ops)
    instance = manager.create("rag", "0.1.0")
    ops.docker_up = False
    with pytest.raises(DockerUnavailable):
        manager.terminate(instance.id)
    ops.docker_up = True
    assert manager.reap() == [instance.container]
    assert ops.containers == {}


def test_docker_lost_ends_the_supervisor_and_calls_the_handler_once(ops: FakeOps) -> None:
    config = AgentConfig(owner_id=OWNER, docker_check_interval=0.01, docker_lost_after=0.1)
    lost: list[float] = []
    called = threading.Event()

    def handler(down_for: float) -> None:
        lost.append(down_for)
        called.set()

    manager = InstanceManager(config, ops, FakeCatalog(), on_docker_lost=handler)
    manager.start()
    ops.docker_up = False
    assert called.wait(5)
    manager.close()
    assert len(lost) == 1 and lost[0] >= 0.1


def test_a_short_outage_is_ridden_out_by_the_supervisor(ops: FakeOps) -> None:
    config = AgentConfig(owner_id=OWNER, docker_check_interval=0.01, docker_lost_after=30)
    lost: list[float] = []
    manager = InstanceManager(
        config, ops, FakeCatalog(), probe=lambda _u, _t: True, on_docker_lost=lost.append
    )
    manager.start()
    try:
        instance = manager.create("rag", "0.1.0")
        ops.docker_up = False
        with pytest.raises(DockerUnavailable):
            manager.terminate(instance.id)
        deadline = time.monotonic() + 5
        ops.docker_up = True
        while ops.containers and time.monotonic() < deadline:
            time.sleep(0.01)
        assert ops.containers == {} and lost == []
    finally:
        manager.close()


def test_a_docker_that_pings_but_fails_keeps_counting_as_down(ops: FakeOps, clock: Clock) -> None:
    manager = manager_of(AgentConfig(owner_id=OWNER), ops, clock)
    ops.docker_up = False
    manager.start(reaper=False)
    clock.now += 61
    ops.ping = lambda: True  # type: ignore[method-assign]  # /_ping answers, nothing else
    assert manager.check_docker() is False and manager.docker_down_for() == 61


def test_docker_lost_after_zero_never_gives_up(ops: FakeOps, clock: Clock) -> None:
    lost: list[float] = []
    manager = InstanceManager(
        AgentConfig(owner_id=OWNER, docker_lost_after=0),
        ops,
        FakeCatalog(),
        clock=clock,
        on_docker_lost=lost.append,
    )
    ops.docker_up = False
    manager.start(reaper=False)
    clock.now += 10**6
    assert manager.check_docker() is False and not manager._lost() and lost == []


def test_reaper_terminates_idle_instances_but_not_kept_alive_ones(
    config: AgentConfig, ops: FakeOps, clock: Clock
) -> None:
    manager = manager_of(config, ops, clock)
    idle = manager.create("rag", "0.1.0")
    busy = manager.create("rag", "0.1.0")
    clock.now += 45
    manager.get(busy.id, touch=True)  # keep-alive
    clock.now += 30
    assert manager.reap() == [idle.id]
    assert [i.id for i in manager.list()] == [busy.id]
    assert idle.container in ops.removed


def test_idle_ttl_zero_never_reaps(ops: FakeOps, clock: Clock) -> None:
    manager = manager_of(AgentConfig(owner_id=OWNER, idle_ttl=0), ops, clock)
    manager.create("rag", "0.1.0")
    clock.now += 10**6
    assert manager.reap() == []


def test_reaper_drops_dead_instances_and_removes_strays(config: AgentConfig, ops: FakeOps) -> None:
    manager = manager_of(config, ops)
    dead = manager.create("rag", "0.1.0")
    cid = next(c.id for c in ops.containers.values() if c.name == dead.container)
    ops.kill(cid)
    ops.add(owned("ffffffffffff"))  # e.g. left by a start that crashed half-way
    removed = manager.reap()
    assert removed == [dead.id, "aidock-ai-rag-ffffffffffff"]
    assert manager.list() == [] and ops.containers == {}


def test_capacity_counts_starts_in_flight(config: AgentConfig, ops: FakeOps) -> None:
    manager = manager_of(config, ops)
    manager.create("rag", "0.1.0")
    manager._starting["aidock-ai-rag-inflight"] = 1
    with pytest.raises(TooManyInstances):
        manager.create("rag", "0.1.0")


def test_terminate_all(config: AgentConfig, ops: FakeOps) -> None:
    manager = manager_of(config, ops)
    manager.create("rag", "0.1.0")
    manager.create("extraction", "1.0")
    manager.terminate_all()
    assert manager.list() == [] and ops.containers == {}


# -- hardening ----------------------------------------------------------------------------


def _attrs(config: AgentConfig) -> dict[str, Any]:
    """Inspect-like attributes of a container run with ``run_kwargs``."""
    run = RunSpec("abc", "rag", "0.1.0", "img", "t", SITE_AIS["rag"])
    kw = run_kwargs(config, run)
    return {
        "Id": "cid",
        "Name": "/" + run.name,
        "Config": {"User": kw["user"], "Labels": kw["labels"], "Image": "img"},
        "State": {"Status": "running"},
        "HostConfig": {
            "ReadonlyRootfs": kw["read_only"],
            "CapDrop": kw["cap_drop"],
            "CapAdd": None,
            "SecurityOpt": kw["security_opt"],
            "Privileged": False,
            "Memory": 1 << 30,
            "PidsLimit": kw["pids_limit"],
            "NanoCpus": kw["nano_cpus"],
            "PortBindings": {"5001/tcp": [{"HostIp": "127.0.0.1", "HostPort": ""}]},
        },
        "NetworkSettings": {"Ports": {"5001/tcp": [{"HostIp": "127.0.0.1", "HostPort": "49153"}]}},
    }


def test_what_run_kwargs_produce_passes_the_hardening_check(config: AgentConfig) -> None:
    attrs = _attrs(config)
    assert hardening_problems(attrs, OWNER) == ()
    info = container_info(attrs, OWNER)
    assert (info.name, info.host_ports, info.running, info.hardened) == (
        "aidock-ai-rag-abc",
        {5001: 49153},
        True,
        True,
    )


@pytest.mark.parametrize(
    ("section", "key", "value", "problem"),
    [
        ("Config", "User", "0", "user is '0'"),
        ("HostConfig", "ReadonlyRootfs", False, "writable"),
        ("HostConfig", "CapDrop", [], "capabilities"),
        ("HostConfig", "CapAdd", ["NET_ADMIN"], "capabilities"),
        ("HostConfig", "SecurityOpt", [], "no-new-privileges"),
        ("HostConfig", "Privileged", True, "privileged"),
        ("HostConfig", "Memory", 0, "limit missing"),
        ("HostConfig", "PortBindings", {"5001/tcp": [{"HostIp": "0.0.0.0"}]}, "beyond"),
    ],
)
def test_hardening_deviations_are_found(
    config: AgentConfig, section: str, key: str, value: Any, problem: str
) -> None:
    attrs = _attrs(config)
    attrs[section][key] = value
    problems = hardening_problems(attrs, OWNER)
    assert any(problem in p for p in problems), problems


def test_loopback_ports_are_published_on_127_0_0_1_only(config: AgentConfig) -> None:
    run = RunSpec("abc", "extraction", "1", "img", "t", SITE_AIS["extraction"])
    assert run_kwargs(config, run)["ports"] == {"3000/tcp": ("127.0.0.1", None)}


# -- pulls --------------------------------------------------------------------------------

REF = ImageRef("localhost:5000", "aidock/rag", "0.1.0")


def _api_error(message: str, status: int = 500) -> APIError:
    return APIError(message, response=SimpleNamespace(status_code=status), explanation=message)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("exc", "kind", "text"),
    [
        (NotFound("x", explanation="manifest unknown"), ImageNotFound, "has no image"),
        (_api_error("unauthorized: authentication required"), RegistryError, "refused"),
        (
            _api_error('Get "https://localhost:5999/v2/": dial tcp: connection refused'),
            RegistryError,
            "not reachable",
        ),
        (
            _api_error("x509: certificate signed by unknown authority"),
            RegistryError,
            "not reachable",
        ),
        (_api_error("something odd"), RegistryError, "pulling"),
    ],
)
def test_pull_errors_are_classified(exc: Exception, kind: type, text: str) -> None:
    error = classify_pull_error(REF, exc)
    assert isinstance(error, kind) and text in str(error)


class FakeImages:
    """``client.images`` of the Docker SDK: local images by reference, pulls."""

    def __init__(self, local: set[str]) -> None:
        self.local = local
        self.pulls: list[tuple[str, str, Any]] = []

    def get(self, name: str) -> Any:
        if name not in self.local:
            raise NotFound("no such image")
        return SimpleNamespace(id="sha256:local", attrs={"RepoDigests": [name]}, labels={})

    def pull(self, repository: str, tag: str, auth_config: Any = None) -> Any:
        self.pulls.append((repository, tag, auth_config))
        digests = [f"{repository}@{tag}"]
        return SimpleNamespace(id="sha256:pulled", attrs={"RepoDigests": digests}, labels={})


def _ops(images: FakeImages, tmp_path: Any) -> DockerOps:
    password = tmp_path / "pw"
    password.write_text("pw\n")
    config = AgentConfig(registry_username="aidock", registry_password_file=password)
    return DockerOps(config, client=SimpleNamespace(images=images))  # type: ignore[arg-type]


def test_pull_is_skipped_when_the_digest_is_local(tmp_path: Any) -> None:
    images = FakeImages({"localhost:5000/aidock/rag@sha256:same"})
    info = _ops(images, tmp_path).ensure_image(REF, "sha256:same")
    assert (info.pulled, info.digest, images.pulls) == (False, "sha256:same", [])
    assert info.ref == "localhost:5000/aidock/rag@sha256:same"


def test_pull_by_digest_with_credentials_otherwise(tmp_path: Any) -> None:
    images = FakeImages({"localhost:5000/aidock/rag@sha256:old"})  # the tag moved since
    info = _ops(images, tmp_path).ensure_image(REF, "sha256:new")
    assert info.pulled and info.digest == "sha256:new"
    assert info.ref == "localhost:5000/aidock/rag@sha256:new"
    assert images.pulls == [
        ("localhost:5000/aidock/rag", "sha256:new", {"username": "aidock", "password": "pw"})
    ]


class Engine:
    """An SDK client whose daemon can be made to refuse connections."""

    def __init__(self) -> None:
        self.up = True
        self.calls = 0
        self.api = SimpleNamespace(base_url="http+docker://localhost", get=self._get)
        self.containers = SimpleNamespace(list=self._list)

    def _answer(self) -> None:
        self.calls += 1
        if not self.up:
            raise requests.ConnectionError("[Errno 111] Connection refused")

    def _get(self, url: str, timeout: float) -> Any:
        self._answer()
        assert url == "http+docker://localhost/_ping" and timeout <= 5
        return SimpleNamespace(status_code=200)

    def _list(self, **_: Any) -> list[Any]:
        self._answer()
        return []


def test_docker_ops_connects_anew_after_the_daemon_stopped_answering() -> None:
    engines: list[Engine] = []

    def connect() -> Any:
        engines.append(Engine())
        return engines[-1]

    ops = DockerOps(AgentConfig(owner_id=OWNER), connect=connect)
    assert ops.ping() and ops.list_owned() == [] and len(engines) == 1
    engines[0].up = False  # dockerd restarts
    with pytest.raises(DockerUnavailable, match="did not answer while listing containers"):
        ops.list_owned()
    assert ops.list_owned() == [] and len(engines) == 2  # a new client for the next call
    engines[1].up = False
    assert ops.ping() is False
    assert ops.ping() is True and len(engines) == 3


def test_docker_ops_scale_of_a_vanished_container_is_unknown_instance() -> None:
    # Issue 14: it answered "needs the swarm backend" (422) for replicas 1; the count is the
    # manager's check_replicas' to judge, a container that is gone is 404.
    def get(container_id: str) -> Any:
        raise NotFound("no such container")

    client = SimpleNamespace(containers=SimpleNamespace(get=get))
    ops = DockerOps(AgentConfig(owner_id=OWNER), client=client)  # type: ignore[arg-type]
    with pytest.raises(UnknownInstance, match="no longer exists") as caught:
        ops.scale("c0ffee" * 4, 1)
    assert (caught.value.status, caught.value.field) == (404, "id")


def test_docker_ops_scale_of_a_container_is_the_container_as_it_is() -> None:
    attrs = {"Id": "c1", "Name": "/aidock-ai-rag-x", "State": {"Status": "running"}}
    container = SimpleNamespace(attrs=attrs)
    client = SimpleNamespace(containers=SimpleNamespace(get=lambda container_id: container))
    ops = DockerOps(AgentConfig(owner_id=OWNER), client=client)  # type: ignore[arg-type]
    info = ops.scale("c1", 1)
    assert (info.id, info.name, info.running) == ("c1", "aidock-ai-rag-x", True)


# -- metrics ------------------------------------------------------------------------------


def test_metrics_text_format() -> None:
    metrics = Metrics()
    metrics.started("rag", 2.5)
    metrics.started("rag", 1.5)
    metrics.failed('we"ird\\ai\n', "start_timeout")
    text = metrics.render({"rag": 1}, 4)
    assert text.endswith("\n")
    assert "# TYPE aidock_agent_instance_starts_total counter" in text
    assert 'aidock_agent_instance_starts_total{ai="rag"} 2' in text
    assert 'aidock_agent_instance_start_seconds_sum{ai="rag"} 4' in text
    assert 'aidock_agent_instance_start_seconds_count{ai="rag"} 2' in text
    assert '{ai="we\\"ird\\\\ai\\n",reason="start_timeout"} 1' in text
    assert reason_of(TooManyInstances("x")) == "too_many_instances"


def test_metrics_of_two_agents_are_apart_and_running_is_read_at_render() -> None:
    one, two = Metrics(), Metrics()  # each in a prometheus_client registry of its own
    one.started("rag", 1.0)
    assert "aidock_agent_instance_starts_total{" not in two.render({}, 1)
    assert 'aidock_agent_instances_running{ai="rag"} 1' in one.render({"rag": 1}, 1)
    assert "aidock_agent_instances_running{" not in one.render({}, 1)  # stopped since
