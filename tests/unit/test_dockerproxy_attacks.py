"""Requests a compromised agent could send: each refused, with the rule that refused it.

The issue's list (privileged, binds, bind mounts, lower-case keys, duplicate keys, a bind
volume, CapAdd, host namespaces, devices, foreign or tagged images, exec, foreign
containers, path tricks, a chunked body, a 100 MB body) and more of the same kind. Every
attack starts from the body the agent really sends (``agent_create_body``), so each test
proves one field's rule, not a malformed request.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest
from dockerproxy_sdk import DIGEST, IMAGE, OWNER, agent_create_body, decider

from aidock.agent import OWNER_LABEL
from aidock.dockerproxy.decide import Refused, Request

V = "/v1.45"
CREATE = f"{V}/containers/create?name=aidock-ai-rag-abc123abc123"
MINE = "a" * 64
THEIRS = "b" * 64
CONTAINERS = {
    "mine": (MINE, {OWNER_LABEL: OWNER}),
    "aidock-registry-registry-1": (THEIRS, {"com.docker.compose.project": "aidock-registry"}),
    "impostor": (THEIRS, {OWNER_LABEL: "someone-else"}),
}
DECIDER = decider()
BASE = agent_create_body()


def lookup(ref: str) -> tuple[str, dict[str, str]] | None:
    return CONTAINERS.get(ref)


def refusal(method: str, target: str, body: bytes = b"", **headers: str) -> Refused:
    with pytest.raises(Refused) as caught:
        DECIDER.decide(Request(method, target, headers, body), lookup)
    return caught.value


def create_with(change: Callable[[dict[str, Any]], None]) -> bytes:
    body = copy.deepcopy(BASE)
    change(body)
    return json.dumps(body).encode()


def host(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body["HostConfig"].update(fields)


def top(**fields: Any) -> Callable[[dict[str, Any]], None]:
    return lambda body: body.update(fields)


def test_the_agents_own_create_body_passes() -> None:
    forward = DECIDER.decide(Request("POST", CREATE, {}, json.dumps(BASE).encode()), lookup)
    assert json.loads(forward.body or b"") == BASE


CREATE_ATTACKS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("privileged", host(Privileged=True), "no-privileged"),
    ("binds-root", host(Binds=["/:/host"]), "no-binds"),
    ("binds-named-volume", host(Binds=["evil:/data"]), "no-binds"),
    ("bind-mount", host(Mounts=[{"Type": "bind", "Source": "/", "Target": "/host"}]), "no-mounts"),
    (
        "volume-mount-with-bind-options",
        host(
            Mounts=[
                {
                    "Type": "volume",
                    "Source": "rootfs",
                    "Target": "/host",
                    "VolumeOptions": {
                        "DriverConfig": {
                            "Name": "local",
                            "Options": {"type": "none", "o": "bind", "device": "/"},
                        }
                    },
                }
            ]
        ),
        "no-mounts",
    ),
    ("cap-add-sys-admin", host(CapAdd=["SYS_ADMIN"]), "no-cap-add"),
    ("cap-drop-missing", lambda b: b["HostConfig"].pop("CapDrop"), "cap-drop-all"),
    ("cap-drop-not-all", host(CapDrop=["NET_RAW"]), "cap-drop-all"),
    ("pid-host", host(PidMode="host"), "no-host-pid"),
    (
        "pid-of-another-container",
        host(PidMode="container:aidock-registry-registry-1"),
        "no-host-pid",
    ),
    ("network-host", host(NetworkMode="host"), "networks"),
    ("network-of-the-registry", host(NetworkMode="aidock-registry"), "networks"),
    ("network-container", host(NetworkMode="container:aidock-agent-agent-1"), "networks"),
    ("ipc-host", host(IpcMode="host"), "no-host-ipc"),
    ("uts-host", host(UTSMode="host"), "no-host-uts"),
    ("userns-host", host(UsernsMode="host"), "no-host-userns"),
    ("cgroupns-host", host(CgroupnsMode="host"), "no-host-cgroupns"),
    (
        "devices",
        host(Devices=[{"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda"}]),
        "no-devices",
    ),
    (
        "device-requests",
        host(DeviceRequests=[{"Count": -1, "Capabilities": [["gpu"]]}]),
        "no-devices",
    ),
    ("device-cgroup-rules", host(DeviceCgroupRules=["b *:* rwm"]), "no-devices"),
    ("runtime", host(Runtime="runc-unconfined"), "no-runtime"),
    ("sysctls", host(Sysctls={"kernel.core_pattern": "|/tmp/x"}), "no-sysctls"),
    ("cgroup-parent", host(CgroupParent="/"), "no-cgroup-parent"),
    ("volumes-from", host(VolumesFrom=["aidock-registry-registry-1"]), "no-volumes-from"),
    ("group-add-root", host(GroupAdd=["0"]), "no-group-add"),
    ("unmask-proc", host(MaskedPaths=[]), "no-unmask"),
    (
        "seccomp-unconfined",
        host(SecurityOpt=["no-new-privileges:true", "seccomp=unconfined"]),
        "security-opt",
    ),
    (
        "apparmor-unconfined",
        host(SecurityOpt=["no-new-privileges:true", "apparmor=unconfined"]),
        "security-opt",
    ),
    ("no-new-privileges-missing", host(SecurityOpt=[]), "security-opt"),
    ("writable-root", host(ReadonlyRootfs=False), "read-only-root"),
    ("root-filesystem-unset", lambda b: b["HostConfig"].pop("ReadonlyRootfs"), "read-only-root"),
    ("no-memory-limit", lambda b: b["HostConfig"].pop("Memory"), "limits"),
    ("unlimited-pids", host(PidsLimit=-1), "limits"),
    ("no-cpu-limit", host(NanoCpus=0), "limits"),
    ("oom-kill-disable", host(OomKillDisable=True), "limits"),
    (
        "port-on-all-interfaces",
        host(PortBindings={"5001/tcp": [{"HostIp": "0.0.0.0", "HostPort": "22"}]}),
        "ports-loopback",
    ),
    ("publish-all", host(PublishAllPorts=True), "ports"),
    (
        "log-driver",
        host(LogConfig={"Type": "syslog", "Config": {"syslog-address": "tcp://x:514"}}),
        "no-log-config",
    ),
    ("restart-always", host(RestartPolicy={"Name": "always"}), "restart-policy"),
    ("unknown-host-field", host(Isolation="hyperv"), "unknown-field"),
    ("root-user", top(User="root"), "non-root-user"),
    ("uid-0", top(User="0:0"), "non-root-user"),
    ("user-unset", lambda b: b.pop("User"), "non-root-user"),
    ("image-other-registry", top(Image=f"docker.io/library/alpine@{DIGEST}"), "image-registry"),
    (
        "image-other-namespace",
        top(Image=f"localhost:5000/aidock-platform/agent@{DIGEST}"),
        "image-registry",
    ),
    ("image-by-tag", top(Image=f"{IMAGE}:0.1.0"), "image-registry"),
    ("image-short-name", top(Image="alpine"), "image-registry"),
    ("owner-label-missing", lambda b: b["Labels"].pop(OWNER_LABEL), "owner-label"),
    ("owner-label-other", lambda b: b["Labels"].update({OWNER_LABEL: "x"}), "owner-label"),
    ("entrypoint-shell", top(Entrypoint=["/bin/sh", "-c", "id"]), "entrypoint"),
    ("stdin-tty", top(Tty=True, OpenStdin=True), "stdio"),
    ("anonymous-volume", top(Volumes={"/data": {}}), "no-volumes"),
    (
        "endpoint-config-other-network",
        top(NetworkingConfig={"EndpointsConfig": {"host": {}}}),
        "networks",
    ),
    ("unknown-top-field", top(Domainname="x"), "unknown-field"),
    ("lower-case-privileged", host(privileged=True), "json-key-case"),
    ("lower-case-hostconfig", lambda b: b.update(hostconfig={"Privileged": True}), "json-key-case"),
    ("upper-case-binds", host(BINDS=["/:/host"]), "json-key-case"),
]


@pytest.mark.parametrize(
    ("change", "rule"),
    [(c, r) for _, c, r in CREATE_ATTACKS],
    ids=[i for i, _, _ in CREATE_ATTACKS],
)
def test_container_create_attack_is_refused(
    change: Callable[[dict[str, Any]], None], rule: str
) -> None:
    refused = refusal("POST", CREATE, create_with(change))
    assert (refused.status, refused.rule) == (403, rule)
    assert refused.answer["message"].endswith(f"(rule: {rule})")


def _raw_create(hostconfig_tail: str) -> bytes:
    body = json.dumps(BASE)
    return body.replace('"HostConfig": {', '"HostConfig": {' + hostconfig_tail, 1).encode()


RAW_ATTACKS: list[tuple[str, bytes, str]] = [
    (
        "duplicate-key",
        _raw_create('"Privileged": false, "Privileged": true, '),
        "json-duplicate-key",
    ),
    (
        "case-variant-pair",
        _raw_create('"Privileged": false, "privileged": true, '),
        "json-key-case",
    ),
    ("duplicate-readonly", _raw_create('"ReadonlyRootfs": false, '), "json-duplicate-key"),
    ("nan", _raw_create('"Memory": NaN, '), "json-invalid"),
    ("not-json", b"Privileged=true", "json-invalid"),
    ("not-utf8", b'{"Image": "\xff"}', "json-invalid"),
    ("empty-body", b"", "json-invalid"),
    ("array-body", b"[]", "container-create"),
]


@pytest.mark.parametrize(
    ("body", "rule"), [(b, r) for _, b, r in RAW_ATTACKS], ids=[i for i, _, _ in RAW_ATTACKS]
)
def test_ambiguous_create_body_is_refused(body: bytes, rule: str) -> None:
    refused = refusal("POST", CREATE, body)
    assert (refused.status, refused.rule) == (403, rule)


def test_a_100_mb_body_is_413() -> None:
    refused = refusal("POST", CREATE, b" " * (100 * 1024 * 1024))
    assert (refused.status, refused.rule) == (413, "body-too-large")


ROUTE_ATTACKS: list[tuple[str, str, str, bytes, str]] = [
    (
        "volume-create-bind-root",
        "POST",
        f"{V}/volumes/create",
        b'{"Name":"rootfs","Driver":"local","DriverOpts":{"type":"none","o":"bind","device":"/"}}',
        "deny-volumes",
    ),
    (
        "exec-into-registry",
        "POST",
        f"{V}/containers/aidock-registry-registry-1/exec",
        b'{"Cmd":["sh"],"User":"root"}',
        "deny-exec",
    ),
    ("exec-start", "POST", f"{V}/exec/{'e' * 64}/start", b'{"Detach":false}', "deny-exec"),
    ("attach", "POST", f"{V}/containers/mine/attach?stream=1&stdin=1", b"", "deny-attach"),
    ("archive-put", "PUT", f"{V}/containers/mine/archive?path=/", b"", "deny-archive"),
    (
        "archive-get",
        "GET",
        f"{V}/containers/aidock-registry-registry-1/archive?path=/",
        b"",
        "deny-archive",
    ),
    ("export", "GET", f"{V}/containers/mine/export", b"", "deny-archive"),
    (
        "commit",
        "POST",
        f"{V}/commit?container=mine&repo=localhost:5000/aidock/rag",
        b"",
        "deny-commit",
    ),
    ("build", "POST", f"{V}/build?t=localhost:5000/aidock/rag", b"", "deny-build"),
    ("plugin-install", "POST", f"{V}/plugins/pull?remote=evil", b"[]", "deny-plugins"),
    ("secrets", "GET", f"{V}/secrets", b"", "deny-secrets"),
    ("swarm-init", "POST", f"{V}/swarm/init", b"{}", "deny-swarm"),
    # The swarm backend's routes: test_dockerproxy_swarm_attacks.py.
    ("service-create-empty", "POST", f"{V}/services/create", b"{}", "service-name"),
    ("image-push", "POST", f"{V}/images/localhost:5000/aidock/rag/push", b"", "deny-image-admin"),
    ("image-load", "POST", f"{V}/images/load", b"", "deny-image-admin"),
    (
        "stop-registry",
        "POST",
        f"{V}/containers/aidock-registry-registry-1/stop",
        b"",
        "container-not-owned",
    ),
    (
        "delete-registry",
        "DELETE",
        f"{V}/containers/aidock-registry-registry-1?force=1",
        b"",
        "container-not-owned",
    ),
    ("kill-impostor", "POST", f"{V}/containers/impostor/kill", b"", "container-not-owned"),
    (
        "logs-of-registry",
        "GET",
        f"{V}/containers/aidock-registry-registry-1/logs?stdout=1",
        b"",
        "container-not-owned",
    ),
    (
        "inspect-registry",
        "GET",
        f"{V}/containers/aidock-registry-registry-1/json",
        b"",
        "container-not-owned",
    ),
    ("container-update", "POST", f"{V}/containers/mine/update", b'{"Memory":0}', "default-deny"),
    ("container-rename", "POST", f"{V}/containers/mine/rename?name=x", b"", "default-deny"),
    ("dot-dot", "GET", f"{V}/../containers/json", b"", "path-not-canonical"),
    (
        "dot-dot-to-exec",
        "POST",
        f"{V}/containers/mine/../../exec/x/start",
        b"",
        "path-not-canonical",
    ),
    ("encoded-dot-dot", "GET", f"{V}/containers/%2e%2e/json", b"", "path-not-canonical"),
    (
        "encoded-dot-dot-upper",
        "POST",
        f"{V}/containers/mine/%2E%2E/%2E%2E/volumes/create",
        b"",
        "path-not-canonical",
    ),
    ("encoded-slash", "POST", f"{V}/containers/mine%2Fexec/start", b"", "path-not-canonical"),
    ("needless-escape", "POST", f"{V}/containers/%6Dine/start", b"", "path-not-canonical"),
    ("double-slash", "POST", f"{V}//containers/mine/start", b"", "path-not-canonical"),
    ("double-slash-inner", "POST", f"{V}/volumes//create", b"", "path-not-canonical"),
    ("dot-segment", "GET", f"{V}/./containers/json", b"", "path-not-canonical"),
    ("trailing-slash", "POST", f"{V}/volumes/create/", b"", "path-not-canonical"),
    ("backslash", "POST", f"{V}/containers\\mine/start", b"", "path-not-canonical"),
    ("old-api-version", "POST", "/v1.24/containers/create?name=aidock-ai-x", b"{}", "api-version"),
    (
        "pull-other-registry",
        "POST",
        f"{V}/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag={DIGEST}",
        b"",
        "image-registry",
    ),
    (
        "pull-by-tag",
        "POST",
        f"{V}/images/create?fromImage=localhost%3A5000%2Faidock%2Frag&tag=latest",
        b"",
        "image-digest",
    ),
    (
        "import-from-stdin",
        "POST",
        f"{V}/images/create?fromSrc=-&repo=localhost%3A5000%2Faidock%2Frag",
        b"",
        "unknown-query",
    ),
    (
        "pull-twice-param",
        "POST",
        f"{V}/images/create?fromImage=localhost%3A5000%2Faidock%2Frag&fromImage=alpine&tag={DIGEST}",
        b"",
        "path-not-canonical",
    ),
    ("list-everything", "GET", f"{V}/containers/json?all=1", b"", "container-list-filter"),
    (
        "list-other-owner",
        "GET",
        f"{V}/containers/json?filters=%7B%22label%22%3A%5B%22ai.aidock.owner%3Dx%22%5D%7D",
        b"",
        "container-list-filter",
    ),
    (
        "network-create-host-side",
        "POST",
        f"{V}/networks/create",
        b'{"Name":"aidock-registry","Driver":"bridge","Labels":{"ai.aidock.owner":"aidock-agent"}}',
        "network-create",
    ),
    (
        "network-connect",
        "POST",
        f"{V}/networks/aidock-registry/connect",
        b'{"Container":"mine"}',
        "default-deny",
    ),
    (
        "create-name-outside-prefix",
        "POST",
        f"{V}/containers/create?name=aidock-registry-registry-2",
        json.dumps(BASE).encode(),
        "container-name",
    ),
    (
        "body-on-start",
        "POST",
        f"{V}/containers/mine/start",
        b'{"Binds":["/:/host"]}',
        "body-not-allowed",
    ),
    ("system-df", "GET", f"{V}/system/df", b"", "default-deny"),
    ("events", "GET", f"{V}/events", b"", "default-deny"),
]


@pytest.mark.parametrize(
    ("method", "target", "body", "rule"),
    [(m, t, b, r) for _, m, t, b, r in ROUTE_ATTACKS],
    ids=[i for i, *_ in ROUTE_ATTACKS],
)
def test_request_is_refused(method: str, target: str, body: bytes, rule: str) -> None:
    refused = refusal(method, target, body)
    assert (refused.status, refused.rule) == (403, rule)


def test_a_container_dockerd_does_not_know_is_404() -> None:
    refused = refusal("POST", f"{V}/containers/gone/stop")
    assert (refused.status, refused.rule) == (404, "no-such-container")


def test_owned_container_is_forwarded_by_its_full_id() -> None:
    forward = DECIDER.decide(Request("POST", f"{V}/containers/mine/stop?t=5"), lookup)
    assert forward.target == f"{V}/containers/{MINE}/stop?t=5"


def test_only_listed_headers_are_forwarded() -> None:
    target = f"{V}/images/create?fromImage=localhost%3A5000%2Faidock%2Frag&tag={DIGEST}"
    headers = {"X-Registry-Auth": "e30=", "X-Forwarded-For": "1.2.3.4", "Content-Type": "text/x"}
    forward = DECIDER.decide(Request("POST", target, headers), lookup)
    assert forward.headers == {"X-Registry-Auth": "e30="}
