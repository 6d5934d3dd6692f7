"""The swarm backend's pure parts: the service spec it sends, the spec it accepts for adoption,
what it reads from tasks, its settings, and the order of a removal's Engine API calls (against
a fake API). No swarm here: what runs on real nodes is the molecule site scenario's business."""

from __future__ import annotations

import copy
from types import SimpleNamespace
from typing import Any

import pytest
from docker.errors import NotFound

from aidock.agent.config import AgentConfig, ConfigError
from aidock.agent.docker_ops import RunSpec, TaskInfo, container_name
from aidock.agent.swarm_ops import (
    SwarmOps,
    hardening_problems,
    is_tmpfs_volume,
    scaled_spec,
    service_spec,
    service_status,
    task_info,
    tmpfs_mounts,
)
from aidock.schemas.manifest import AiManifest

DIGEST = "sha256:" + "ab" * 32
IMAGE = f"localhost:5000/aidock/extraction@{DIGEST}"
SPEC = AiManifest(
    schema_version="extraction/v1",
    port=3000,
    memory="512m",
    cpus=1.5,
    pids=128,
    tmpfs={"/data": "uid=10001,gid=10001,mode=0700,size=256m", "/tmp": "size=64m,mode=1777"},
)
RUN = RunSpec("abc123abc123", "extraction", "0.1.0", IMAGE, "2026-11-30T00:00:00Z", SPEC, 3)
CONFIG = AgentConfig(backend="swarm")


def _spec() -> dict[str, Any]:
    return service_spec(CONFIG, RUN)


def test_the_service_is_created_by_digest_hardened_and_labelled() -> None:
    body = _spec()
    template = body["TaskTemplate"]
    container = template["ContainerSpec"]
    assert body["Name"] == "aidock-ai-extraction-abc123abc123"
    assert container["Image"] == IMAGE
    assert container["User"] == "10001:10001"
    assert container["ReadOnly"] is True
    assert container["CapabilityDrop"] == ["ALL"]
    assert container["Privileges"] == {"NoNewPrivileges": True}
    # The image's own check (no Test of ours), every second while the AI starts.
    assert container["Healthcheck"] == {"StartPeriod": 120 * 10**9, "StartInterval": 10**9 // 2}
    assert container["Mounts"] and all(is_tmpfs_volume(m) for m in container["Mounts"])
    assert "Tmpfs" not in container and "tmpfs" not in template
    assert template["Resources"]["Limits"] == {
        "MemoryBytes": 512 * 1024 * 1024,
        "NanoCPUs": 1_500_000_000,
        "Pids": 128,
    }
    for labels in (body["Labels"], container["Labels"]):
        assert labels["ai.aidock.owner"] == "aidock-agent"
        assert labels["ai.aidock.ai"] == "extraction"
        assert labels["ai.aidock.version"] == "0.1.0"
        assert labels["ai.aidock.instance"] == "abc123abc123"
        assert labels["ai.aidock.started-at"] == "2026-11-30T00:00:00Z"
    assert AiManifest.from_labels(body["Labels"]) == SPEC  # adoption reads it back


def test_the_service_is_spread_over_ai_hosts_with_a_bounded_restart_and_dnsrr() -> None:
    body = _spec()
    template = body["TaskTemplate"]
    assert body["Mode"] == {"Replicated": {"Replicas": 3}}
    assert body["EndpointSpec"] == {"Mode": "dnsrr"}
    assert template["Placement"] == {
        "Constraints": ["node.labels.ai.aidock.ai-host==true"],
        "Preferences": [{"Spread": {"SpreadDescriptor": "node.id"}}],
    }
    assert template["Networks"] == [{"Target": "aidock-swarm"}]
    restart = template["RestartPolicy"]
    assert restart["MaxAttempts"] == 3 and restart["Window"] > 0


def test_tmpfs_options_become_tmpfs_volume_options() -> None:
    mounts = {
        m["Target"]: m["VolumeOptions"]["DriverConfig"] for m in tmpfs_mounts(SPEC.tmpfs, 1 << 29)
    }
    assert set(mounts) == {"/data", "/tmp"}
    # The owner and mode reach the mount (a tmpfs mount of API 1.45 cannot carry an owner).
    assert mounts["/data"] == {
        "Name": "local",
        "Options": {
            "type": "tmpfs",
            "device": "tmpfs",
            "o": f"uid=10001,gid=10001,mode=0700,size={256 << 20},nosuid,nodev,noexec",
        },
    }
    assert mounts["/tmp"]["Options"]["o"] == f"mode=1777,size={64 << 20},nosuid,nodev,noexec"
    # No size: the memory limit; unknown options are dropped.
    (cache,) = tmpfs_mounts({"/cache": "mode=0755,exec,nr_inodes=9"}, 1234)
    assert cache["VolumeOptions"]["DriverConfig"]["Options"]["o"] == (
        "mode=0755,size=1234,nosuid,nodev,noexec"
    )
    assert "Source" not in cache and is_tmpfs_volume(cache)


def test_only_anonymous_local_tmpfs_volumes_count_as_tmpfs() -> None:
    (good,) = tmpfs_mounts({"/data": "size=1m"}, 1)
    named = {**good, "Source": "shared"}
    bind = copy.deepcopy(good)
    bind["VolumeOptions"]["DriverConfig"]["Options"].update(type="none", o="bind", device="/")
    assert is_tmpfs_volume(good)
    assert not any(is_tmpfs_volume(m) for m in (named, bind, {"Type": "tmpfs", "Target": "/x"}))


def test_service_names_are_dns_labels() -> None:
    assert container_name("my.ai_x", "abc", "swarm") == "aidock-ai-my-ai-x-abc"
    assert container_name("my.ai_x", "abc") == "aidock-ai-my.ai_x-abc"


def test_its_own_spec_has_no_hardening_problem() -> None:
    assert hardening_problems(_spec(), "aidock-agent") == ()


def _without(path: list[str], value: Any = None) -> dict[str, Any]:
    spec = copy.deepcopy(_spec())
    node = spec
    for key in path[:-1]:
        node = node[key]
    if value is None:
        node.pop(path[-1])
    else:
        node[path[-1]] = value
    return spec


CS = ["TaskTemplate", "ContainerSpec"]


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        (_without(["Labels"], {"ai.aidock.owner": "other"}), "owner label differs"),
        (_without([*CS, "Image"], "localhost:5000/aidock/extraction:0.1.0"), "digest"),
        (_without([*CS, "User"], "0:0"), "user is"),
        (_without([*CS, "ReadOnly"]), "writable"),
        (_without([*CS, "CapabilityAdd"], ["SYS_ADMIN"]), "capabilities"),
        (_without([*CS, "Privileges"]), "no-new-privileges"),
        (_without([*CS, "Mounts"], [{"Type": "bind", "Source": "/"}]), "anonymous tmpfs volume"),
        (_without(["TaskTemplate", "Resources"]), "limit missing"),
        (_without(["TaskTemplate", "RestartPolicy"], {"Condition": "any"}), "without a bound"),
        (_without(["EndpointSpec"], {"Mode": "vip"}), "dnsrr"),
    ],
)
def test_adoption_names_what_differs(spec: dict[str, Any], problem: str) -> None:
    problems = hardening_problems(spec, "aidock-agent")
    assert any(problem in p for p in problems), problems


def test_scaling_sends_the_inspected_spec_back_with_the_network_by_name() -> None:
    inspected = copy.deepcopy(_spec())
    inspected["TaskTemplate"]["Networks"] = [{"Target": "k3p0networkid"}]
    inspected["TaskTemplate"]["ForceUpdate"] = 0
    inspected["TaskTemplate"]["Resources"]["Reservations"] = {}
    scaled = scaled_spec(inspected, 5, "aidock-swarm")
    assert scaled["Mode"] == {"Replicated": {"Replicas": 5}}
    assert scaled["TaskTemplate"]["Networks"] == [{"Target": "aidock-swarm"}]
    assert "ForceUpdate" not in scaled["TaskTemplate"]
    assert "Reservations" not in scaled["TaskTemplate"]["Resources"]
    assert inspected["Mode"] == {"Replicated": {"Replicas": 3}}  # not changed in place


def _task(slot: int, state: str = "running", desired: str = "running") -> dict[str, Any]:
    return {
        "ID": f"task{slot}",
        "Slot": slot,
        "NodeID": "node1",
        "DesiredState": desired,
        "Status": {"State": state, "Err": "boom" if state == "failed" else ""},
        "NetworksAttachments": [
            {"Network": {"ID": "ingressid", "Spec": {"Name": "ingress"}}, "Addresses": ["x/24"]},
            {
                "Network": {"ID": "net", "Spec": {"Name": "aidock-swarm"}},
                "Addresses": [f"10.0.1.{slot}/24"],
            },
        ],
    }


def test_task_addresses_are_read_on_the_swarm_network() -> None:
    task = task_info(_task(2), "aidock-swarm", {"node1": "ai-1"})
    assert task == TaskInfo("task2", 2, "node1", "running", "running", "10.0.1.2", "ai-1", "")
    assert task.running


@pytest.mark.parametrize(
    ("tasks", "replicas", "status"),
    [
        ([], 2, "starting"),
        ([_task(1, "pending")], 1, "starting"),
        ([_task(1), _task(2, "preparing")], 2, "running"),
        ([_task(1, "failed", "shutdown")], 1, "failed"),
        ([], 0, "scaled to 0"),
    ],
)
def test_service_status(tasks: list[dict[str, Any]], replicas: int, status: str) -> None:
    infos = tuple(task_info(t, "aidock-swarm", {}) for t in tasks)
    assert service_status(replicas, infos) == status


def test_swarm_settings_default_and_validate(monkeypatch: pytest.MonkeyPatch) -> None:
    config = AgentConfig()
    assert config.backend == "docker"
    assert config.swarm_network == "aidock-swarm"
    assert config.swarm_constraint == "node.labels.ai.aidock.ai-host==true"
    monkeypatch.setenv("AIDOCK_AGENT_BACKEND", "swarm")
    monkeypatch.setenv("AIDOCK_AGENT_SWARM_RESTART_MAX_ATTEMPTS", "5")
    loaded = AgentConfig.load()
    assert (loaded.backend, loaded.swarm_restart_max_attempts) == ("swarm", 5)


@pytest.mark.parametrize(
    ("env", "value", "field"),
    [
        ("BACKEND", "kubernetes", "backend"),
        ("SWARM_NETWORK", "ingress", "swarm_network"),
        ("SWARM_CONSTRAINT", "node.role==manager; rm -rf", "swarm_constraint"),
        ("SWARM_RESTART_MAX_ATTEMPTS", "0", "swarm_restart_max_attempts"),
        ("MAX_REPLICAS", "0", "max_replicas"),
    ],
)
def test_bad_swarm_settings_name_the_field(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, field: str
) -> None:
    monkeypatch.setenv(f"AIDOCK_AGENT_{env}", value)
    with pytest.raises(ConfigError, match=field):
        AgentConfig.load()


class _NodesApi:
    """The one Docker API call node names come from, counted."""

    def __init__(self) -> None:
        self.calls = 0
        self.names = {"node1": "ai-1"}

    def nodes(self) -> list[dict[str, Any]]:
        self.calls += 1
        return [{"ID": i, "Description": {"Hostname": n}} for i, n in self.names.items()]


def test_node_names_are_read_again_only_for_a_new_node() -> None:
    api = _NodesApi()
    ops = SwarmOps(CONFIG, client=SimpleNamespace(api=api))  # type: ignore[arg-type]
    for _ in range(3):
        assert [t.node for t in ops._task_infos([_task(1), _task(2)])] == ["ai-1", "ai-1"]
    assert api.calls == 1
    api.names["node2"] = "ai-2"
    moved = {**_task(3), "NodeID": "node2"}
    assert [t.node for t in ops._task_infos([_task(1), moved])] == ["ai-1", "ai-2"]
    assert api.calls == 2


class _RemovalApi:
    """A service scaled 3 -> 0 whose tasks stop, then wait for Swarm's task reaper: each
    ``tasks()`` call returns the next listing (the last one again once they run out)."""

    def __init__(self, listings: list[list[dict[str, Any]]]) -> None:
        self.listings = listings
        self.calls: list[str] = []

    def inspect_service(self, service_id: str) -> dict[str, Any]:
        if "remove_service" in self.calls:
            raise NotFound("gone")
        return {"ID": "svc1", "Version": {"Index": 7}, "Spec": _spec()}

    def _url(self, path: str, *args: str) -> str:
        return path.format(*args)

    def _post_json(self, url: str, **_: Any) -> str:
        self.calls.append(url)
        return url

    def _result(self, resp: str, json: bool = False) -> dict[str, Any]:
        return {}

    def nodes(self) -> list[dict[str, Any]]:
        return [{"ID": "node1", "Description": {"Hostname": "ai-1"}}]

    def tasks(self, filters: dict[str, Any]) -> list[dict[str, Any]]:
        if "remove_service" in self.calls:
            return []
        self.calls.append("tasks")
        return self.listings.pop(0) if len(self.listings) > 1 else self.listings[0]

    def remove_service(self, service_id: str) -> None:
        self.calls.append("remove_service")


def test_a_service_is_removed_only_once_its_scaled_down_tasks_were_reaped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Removing while the reaper deletes tasks crashed the swarm leader (see ``_reaped``)."""
    monkeypatch.setattr("aidock.agent.swarm_ops.time.sleep", lambda _: None)
    history = _task(3, "failed", "shutdown")  # an earlier failure: kept, never reaped
    api = _RemovalApi(
        [
            [_task(1), _task(2), history],  # read by the scale's inspect
            [_task(1, "running", "remove"), _task(2, "running", "remove"), history],
            [_task(1, "shutdown", "remove"), _task(2, "running", "remove"), history],
            [_task(1, "shutdown", "remove"), _task(2, "shutdown", "remove"), history],
            [_task(2, "shutdown", "remove"), history],
            [history],
        ]
    )
    ops = SwarmOps(CONFIG, client=SimpleNamespace(api=api))  # type: ignore[arg-type]
    assert ops.remove("svc1") is True
    assert api.calls[0] == "/services/svc1/update"
    assert api.calls[1:] == ["tasks"] * 6 + ["remove_service"]
