"""Swarm requests a compromised agent could send: each refused, with the rule that refused it.

Every service attack starts from the body ``SwarmOps`` really sends (``swarm_create_body``), so
each test proves one field's rule; the same check guards ``/services/{id}/update`` (a scale
sends the whole spec). Swarm administration stays refused whatever the body.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, quote

import pytest
from dockerproxy_sdk import DIGEST, IMAGE, OWNER, decider
from dockerproxy_swarm import swarm_create_body

from aidock.agent import OWNER_LABEL
from aidock.dockerproxy.decide import Refused, Request

V = "/v1.45"
CREATE = f"{V}/services/create"
MINE = "m" * 25
SECOND = 1_000_000_000
THEIRS = "t" * 25
SERVICES = {
    "mine": (MINE, {OWNER_LABEL: OWNER}),
    MINE: (MINE, {OWNER_LABEL: OWNER}),
    "registry_registry": (THEIRS, {"com.docker.stack.namespace": "registry"}),
    "impostor": (THEIRS, {OWNER_LABEL: "someone-else"}),
}
DECIDER = decider()
BASE = swarm_create_body()


def lookup(ref: str, kind: str = "container") -> tuple[str, dict[str, str]] | None:
    return SERVICES.get(ref) if kind == "service" else None


def decide(method: str, target: str, body: bytes = b"") -> Any:
    return DECIDER.decide(Request(method, target, {}, body), lookup)


def refusal(method: str, target: str, body: bytes = b"") -> Refused:
    with pytest.raises(Refused) as caught:
        decide(method, target, body)
    return caught.value


Change = Callable[[dict[str, Any]], None]


def at(*path: str, **fields: Any) -> Change:
    """Update the object at ``path`` of the spec with ``fields``."""

    def change(body: dict[str, Any]) -> None:
        node = body
        for key in path:
            node = node[key]
        node.update(fields)

    return change


def drop(*path: str) -> Change:
    def change(body: dict[str, Any]) -> None:
        node = body
        for key in path[:-1]:
            node = node[key]
        node.pop(path[-1])

    return change


def with_change(change: Change) -> bytes:
    body = copy.deepcopy(BASE)
    change(body)
    return json.dumps(body).encode()


CS = ("TaskTemplate", "ContainerSpec")
TT = ("TaskTemplate",)


def test_the_agents_own_service_body_passes() -> None:
    forward = decide("POST", CREATE, json.dumps(BASE).encode())
    assert json.loads(forward.body or b"") == BASE


def tmpfs_volume(**options: str) -> dict[str, Any]:
    """An anonymous local tmpfs volume as SwarmOps mounts one, its options changed."""
    base = {"type": "tmpfs", "device": "tmpfs", "o": "uid=10001,size=1048576,nosuid"}
    return {
        "Type": "volume",
        "Target": "/data",
        "VolumeOptions": {"DriverConfig": {"Name": "local", "Options": {**base, **options}}},
    }


def drivered(mount: dict[str, Any], driver: str) -> dict[str, Any]:
    changed = json.loads(json.dumps(mount))
    changed["VolumeOptions"]["DriverConfig"]["Name"] = driver
    return changed


SERVICE_ATTACKS: list[tuple[str, Change, str]] = [
    (
        "bind-mount",
        at(*CS, Mounts=[{"Type": "bind", "Source": "/", "Target": "/host"}]),
        "tmpfs-mounts-only",
    ),
    (
        "volume-mount-with-bind-options",
        at(
            *CS,
            Mounts=[
                {
                    "Type": "volume",
                    "Source": "rootfs",
                    "Target": "/host",
                    "VolumeOptions": {
                        "DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/"}}
                    },
                }
            ],
        ),
        "tmpfs-mounts-only",
    ),
    (
        "anonymous-volume-with-bind-options",
        at(*CS, Mounts=[tmpfs_volume(type="none", o="bind", device="/")]),
        "tmpfs-mounts-only",
    ),
    (
        "named-tmpfs-volume-shared-by-tasks",
        at(*CS, Mounts=[{**tmpfs_volume(), "Source": "shared"}]),
        "tmpfs-mounts-only",
    ),
    (
        "tmpfs-volume-of-another-driver",
        at(*CS, Mounts=[drivered(tmpfs_volume(), "vieux/sshfs")]),
        "tmpfs-mounts-only",
    ),
    (
        "tmpfs-volume-with-other-mount-options",
        at(*CS, Mounts=[tmpfs_volume(o="size=1m,exec,suid")]),
        "tmpfs-mounts-only",
    ),
    (
        "tmpfs-volume-with-a-device",
        at(*CS, Mounts=[tmpfs_volume(device="/dev/sda1")]),
        "tmpfs-mounts-only",
    ),
    (
        "disk-volume-without-options",
        at(*CS, Mounts=[{"Type": "volume", "Target": "/data"}]),
        "tmpfs-mounts-only",
    ),
    (
        "npipe-or-cluster-mount",
        at(*CS, Mounts=[{"Type": "cluster", "Source": "x", "Target": "/x"}]),
        "tmpfs-mounts-only",
    ),
    (
        "docker-socket-mount",
        at(*CS, Mounts=[{"Type": "bind", "Source": "/run"}]),
        "tmpfs-mounts-only",
    ),
    (
        "healthcheck-running-a-command-of-ours",
        at(*CS, Healthcheck={"Test": ["CMD", "/bin/sh", "-c", "id"], "StartInterval": SECOND}),
        "healthcheck",
    ),
    (
        "healthcheck-with-other-settings",
        at(*CS, Healthcheck={"Interval": 1, "Retries": 1000000}),
        "unknown-field",
    ),
    ("cap-add-sys-admin", at(*CS, CapabilityAdd=["SYS_ADMIN"]), "no-cap-add"),
    ("cap-drop-missing", drop(*CS, "CapabilityDrop"), "cap-drop-all"),
    ("cap-drop-not-all", at(*CS, CapabilityDrop=["NET_RAW"]), "cap-drop-all"),
    ("no-new-privileges-missing", drop(*CS, "Privileges"), "no-new-privileges"),
    (
        "no-new-privileges-false",
        at(*CS, Privileges={"NoNewPrivileges": False}),
        "no-new-privileges",
    ),
    (
        "seccomp-unconfined",
        at(*CS, Privileges={"NoNewPrivileges": True, "Seccomp": {"Mode": "unconfined"}}),
        "security-opt",
    ),
    (
        "apparmor-disabled",
        at(*CS, Privileges={"NoNewPrivileges": True, "AppArmor": {"Mode": "disabled"}}),
        "security-opt",
    ),
    ("writable-root", at(*CS, ReadOnly=False), "read-only-root"),
    ("root-unset", drop(*CS, "ReadOnly"), "read-only-root"),
    ("root-user", at(*CS, User="root"), "non-root-user"),
    ("uid-0", at(*CS, User="0:0"), "non-root-user"),
    ("user-unset", drop(*CS, "User"), "non-root-user"),
    ("image-by-tag", at(*CS, Image=f"{IMAGE}:0.1.0"), "image-registry"),
    ("image-other-registry", at(*CS, Image=f"docker.io/library/alpine@{DIGEST}"), "image-registry"),
    (
        "image-other-namespace",
        at(*CS, Image=f"localhost:5000/aidock-platform/agent@{DIGEST}"),
        "image-registry",
    ),
    ("no-limits", drop(*TT, "Resources"), "limits"),
    ("no-memory-limit", drop(*TT, "Resources", "Limits", "MemoryBytes"), "limits"),
    ("no-pids-limit", drop(*TT, "Resources", "Limits", "Pids"), "limits"),
    ("unlimited-pids", at(*TT, "Resources", "Limits", Pids=-1), "limits"),
    ("no-cpu-limit", at(*TT, "Resources", "Limits", NanoCPUs=0), "limits"),
    ("ulimits", at(*CS, Ulimits=[{"Name": "nofile", "Soft": 1, "Hard": 1}]), "limits"),
    ("restart-unbounded", at(*TT, "RestartPolicy", MaxAttempts=0), "restart-policy"),
    ("restart-policy-missing", drop(*TT, "RestartPolicy"), "restart-policy"),
    ("placement-anywhere", at(*TT, "Placement", Constraints=[]), "placement"),
    (
        "placement-on-managers",
        at(*TT, "Placement", Constraints=["node.role==manager"]),
        "placement",
    ),
    ("network-ingress", at(*TT, Networks=[{"Target": "ingress"}]), "networks"),
    ("network-of-the-registry", at(*TT, Networks=[{"Target": "aidock-registry"}]), "networks"),
    ("network-missing", drop(*TT, "Networks"), "networks"),
    (
        "published-port",
        at("EndpointSpec", Ports=[{"TargetPort": 22, "PublishedPort": 22}]),
        "ports",
    ),
    ("vip-mode", at("EndpointSpec", Mode="vip"), "endpoint-dnsrr"),
    ("global-mode", at("Mode", Global={}), "service-mode"),
    ("replicas-unbounded", at("Mode", "Replicated", Replicas=100000), "service-mode"),
    ("secrets", at(*CS, Secrets=[{"SecretName": "registry_password"}]), "no-secrets"),
    ("configs", at(*CS, Configs=[{"ConfigName": "x"}]), "no-secrets"),
    ("sysctls", at(*CS, Sysctls={"kernel.core_pattern": "|/tmp/x"}), "no-sysctls"),
    ("group-add-root", at(*CS, Groups=["0"]), "no-group-add"),
    ("command-shell", at(*CS, Command=["/bin/sh", "-c", "id"]), "entrypoint"),
    ("tty", at(*CS, TTY=True), "stdio"),
    ("runtime-plugin", at(*TT, Runtime="plugin"), "no-runtime"),
    ("log-driver", at(*TT, LogDriver={"Name": "syslog"}), "no-log-config"),
    ("owner-label-missing", drop("Labels", OWNER_LABEL), "owner-label"),
    ("owner-label-other", at("Labels", **{OWNER_LABEL: "x"}), "owner-label"),
    ("container-owner-label-other", at(*CS, "Labels", **{OWNER_LABEL: "x"}), "owner-label"),
    ("name-of-another-service", at(Name="registry_registry"), "service-name"),
    ("unknown-container-field", at(*CS, Hostname="x"), "unknown-field"),
    ("unknown-task-field", at(*TT, PluginSpec={"Name": "evil"}), "unknown-field"),
    ("lower-case-capabilityadd", at(*CS, capabilityadd=["ALL"]), "json-key-case"),
    ("lower-case-mounts", at(*CS, mounts=[{"Type": "bind", "Source": "/"}]), "json-key-case"),
]


@pytest.mark.parametrize(
    ("change", "rule"),
    [(c, r) for _, c, r in SERVICE_ATTACKS],
    ids=[i for i, _, _ in SERVICE_ATTACKS],
)
def test_service_create_attack_is_refused(change: Change, rule: str) -> None:
    refused = refusal("POST", CREATE, with_change(change))
    assert (refused.status, refused.rule) == (403, rule)


@pytest.mark.parametrize(
    ("change", "rule"),
    [(c, r) for _, c, r in SERVICE_ATTACKS[:12]],
    ids=[i for i, _, _ in SERVICE_ATTACKS[:12]],
)
def test_service_update_is_held_to_the_same_rules(change: Change, rule: str) -> None:
    refused = refusal("POST", f"{V}/services/mine/update?version=3", with_change(change))
    assert (refused.status, refused.rule) == (403, rule)


def test_the_agent_may_scale_its_own_service_only() -> None:
    body = json.dumps(BASE).encode()
    forward = decide("POST", f"{V}/services/mine/update?version=3", body)
    assert forward.target == f"{V}/services/{MINE}/update?version=3"
    refused = refusal("POST", f"{V}/services/registry_registry/update?version=3", body)
    assert (refused.status, refused.rule) == (403, "service-not-owned")


REQUEST_ATTACKS: list[tuple[str, str, str, bytes, str]] = [
    ("swarm-init", "POST", f"{V}/swarm/init", b"{}", "deny-swarm"),
    ("swarm-join", "POST", f"{V}/swarm/join", b"{}", "deny-swarm"),
    ("swarm-leave", "POST", f"{V}/swarm/leave?force=1", b"", "deny-swarm"),
    ("swarm-unlock-key", "GET", f"{V}/swarm/unlockkey", b"", "deny-swarm"),
    ("swarm-inspect-tokens", "GET", f"{V}/swarm", b"", "deny-swarm"),
    ("node-update", "POST", f"{V}/nodes/node1/update?version=1", b"{}", "deny-swarm"),
    ("node-remove", "DELETE", f"{V}/nodes/node1?force=1", b"", "deny-swarm"),
    ("node-inspect", "GET", f"{V}/nodes/node1", b"", "deny-swarm"),
    ("secret-create", "POST", f"{V}/secrets/create", b"{}", "deny-secrets"),
    ("config-list", "GET", f"{V}/configs", b"", "deny-secrets"),
    ("task-inspect", "GET", f"{V}/tasks/abc", b"", "deny-swarm"),
    ("task-logs", "GET", f"{V}/tasks/abc/logs?stdout=1", b"", "deny-swarm"),
    ("service-logs", "GET", f"{V}/services/mine/logs?stdout=1", b"", "deny-swarm"),
    (
        "service-remove-theirs",
        "DELETE",
        f"{V}/services/registry_registry",
        b"",
        "service-not-owned",
    ),
    ("service-remove-impostor", "DELETE", f"{V}/services/impostor", b"", "service-not-owned"),
    ("service-inspect-theirs", "GET", f"{V}/services/registry_registry", b"", "service-not-owned"),
    ("service-inspect-missing", "GET", f"{V}/services/nothing", b"", "no-such-service"),
    (
        "service-update-rollback",
        "POST",
        f"{V}/services/mine/update?version=3&rollback=previous",
        json.dumps(BASE).encode(),
        "unknown-query",
    ),
    (
        "service-update-auth-from-previous",
        "POST",
        f"{V}/services/mine/update?version=3&registryAuthFrom=previous-spec",
        json.dumps(BASE).encode(),
        "unknown-query",
    ),
    ("service-list-everything", "GET", f"{V}/services", b"", "service-list-filter"),
    (
        "service-list-other-owner",
        "GET",
        f"{V}/services?filters=%7B%22label%22%3A%5B%22ai.aidock.owner%3Dx%22%5D%7D",
        b"",
        "service-list-filter",
    ),
    ("tasks-of-everything", "GET", f"{V}/tasks", b"", "task-list-filter"),
    (
        "tasks-of-their-service-without-the-owner-label",
        "GET",
        f"{V}/tasks?filters=%7B%22service%22%3A%5B%22registry_registry%22%5D%7D",
        b"",
        "task-list-filter",
    ),
    (
        "tasks-of-another-owner",
        "GET",
        f"{V}/tasks?filters=%7B%22label%22%3A%5B%22ai.aidock.owner%3Dsomeone%22%5D%2C%22service%22%3A%5B%22x%22%5D%7D",
        b"",
        "task-list-filter",
    ),
    (
        "tasks-by-node",
        "GET",
        f"{V}/tasks?filters=%7B%22node%22%3A%5B%22node1%22%5D%7D",
        b"",
        "task-list-filter",
    ),
    ("node-list-with-body", "GET", f"{V}/nodes", b"{}", "body-not-allowed"),
]


@pytest.mark.parametrize(
    ("method", "target", "body", "rule"),
    [(m, t, b, r) for _, m, t, b, r in REQUEST_ATTACKS],
    ids=[i for i, *_ in REQUEST_ATTACKS],
)
def test_swarm_request_attack_is_refused(method: str, target: str, body: bytes, rule: str) -> None:
    assert refusal(method, target, body).rule == rule


def test_the_agent_reads_tasks_under_its_owner_label() -> None:
    # Tasks carry their service's labels: dockerd answers only the agent's, also for a service
    # named by another's id or already removed (listed by name while its tasks go).
    for filters in (
        {"label": [f"{OWNER_LABEL}={OWNER}"], "service": ["mine"]},
        {"label": [f"{OWNER_LABEL}={OWNER}"], "name": ["aidock-ai-rag-0123456789ab"]},
    ):
        target = f"{V}/tasks?filters={quote(json.dumps(filters))}"
        forward = decide("GET", target)
        assert json.loads(dict(parse_qsl(forward.target.partition("?")[2]))["filters"]) == filters
