"""What a compromised agent can do with its Docker endpoint: from inside the deployed agent's
container, as an attacker holding it would, requests to DOCKER_HOST (the policy proxy's socket)
that would own the host are refused with 403 (413 for a huge body) naming the rule, and dockerd
shows that none of them created anything. The agent's container has no Docker socket of its own.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import docker
import pytest
from conftest import AGENT_CONTAINER, REGISTRY, hardened_create_body

PROXY_CONTAINER = "aidock-agent-dockerproxy-1"
PROXY_SOCKET = "/run/aidock/dockerproxy/docker.sock"
OWNER_LABEL = "ai.aidock.owner"
OWNER = "aidock-agent"
NETWORK = "aidock-ai"
ATTACK_NAME = "aidock-ai-attack-from-the-agent"
VICTIM = "aidock-registry-registry-1"  # a container that is not the agent's
ATTACK_VOLUME = "aidock-attack-root"

# Runs inside the agent's container (its own Python, the standard library only): sends each raw
# request to the proxy's socket and prints status and body of every answer as JSON.
CLIENT = r"""
import base64, json, os, socket, sys
results = []
for head, parts in json.loads(sys.stdin.read()):
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(60)
    sock.connect(os.environ["DOCKER_HOST"].removeprefix("unix://"))
    try:
        sock.sendall(head.encode())
        for part in parts:
            sock.sendall(base64.b64decode(part))
    except OSError:
        pass  # the proxy may answer (413) and close before a huge body is sent
    data = b""
    while True:  # Connection: close, so the answer ends where the stream does
        try:
            chunk = sock.recv(65536)
        except OSError:
            break
        if not chunk:
            break
        data += chunk
    sock.close()
    status_line, _, rest = data.partition(b"\r\n")
    body = rest.partition(b"\r\n\r\n")[2]
    results.append([int(status_line.split()[1]) if status_line else 0, body.decode("latin-1")])
print(json.dumps(results))
"""


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _request(method: str, path: str, body: bytes = b"", *, chunks: list[bytes] | None = None):
    head = f"{method} /v1.45{path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
    if chunks is not None:
        head += "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        return head, [_chunk(c) for c in chunks] + [b"0\r\n\r\n"]
    head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    return head, [body] if body else []


def _raw(path: str) -> tuple[str, list[bytes]]:
    """A request whose path is sent exactly as written (no /v1.45 prefix added)."""
    return f"GET {path} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n", []


@pytest.fixture(scope="module")
def site_image(docker_client: docker.DockerClient) -> str:
    """An AI image of the site registry, by digest: what the agent itself would run."""
    for image in docker_client.images.list(name=f"{REGISTRY}/aidock/extraction"):
        for ref in image.attrs.get("RepoDigests") or []:
            if ref.startswith(f"{REGISTRY}/aidock/extraction@"):
                return ref
    pytest.fail("no extraction image from the site registry on this host: run make deploy")


def hardened(image: str, **change: Any) -> dict[str, Any]:
    """The body the agent sends to create an AI container, with `change` applied."""
    body = hardened_create_body(image, OWNER, NETWORK)
    host = change.pop("HostConfig", {})
    body.update(change)
    body["HostConfig"].update(host)
    return body


def attacks(image: str) -> list[tuple[str, int, str, tuple[str, list[bytes]]]]:
    """(what, expected status, expected rule, raw request) of each attack."""
    create = f"/containers/create?name={ATTACK_NAME}"

    def make(**change: Any) -> tuple[str, list[bytes]]:
        return _request("POST", create, json.dumps(hardened(image, **change)).encode())

    repository = image.partition("@")[0]
    lower = hardened(image)
    lower["HostConfig"]["privileged"] = True
    duplicate = json.dumps(hardened(image)).replace(
        '"HostConfig": {', '"HostConfig": {"Privileged": false, "Privileged": true, ', 1
    )
    volume = {"Name": ATTACK_VOLUME, "Driver": "local"}
    volume["DriverOpts"] = {"type": "none", "o": "bind", "device": "/"}
    bind_mount = [{"Type": "bind", "Source": "/", "Target": "/host"}]
    return [
        ("privileged", 403, "no-privileged", make(HostConfig={"Privileged": True})),
        ("bind of /", 403, "no-binds", make(HostConfig={"Binds": ["/:/host"]})),
        ("bind mount", 403, "no-mounts", make(HostConfig={"Mounts": bind_mount})),
        ("lower-case privileged", 403, "json-key-case", make_raw(create, json.dumps(lower))),
        ("the same key twice", 403, "json-duplicate-key", make_raw(create, duplicate)),
        ("a chunked body hiding a second key", 403, "json-duplicate-key",
         _request("POST", create, chunks=[duplicate[:40].encode(), duplicate[40:].encode()])),
        ("volume binding /", 403, "deny-volumes",
         _request("POST", "/volumes/create", json.dumps(volume).encode())),
        ("CapAdd SYS_ADMIN", 403, "no-cap-add", make(HostConfig={"CapAdd": ["SYS_ADMIN"]})),
        ("PidMode host", 403, "no-host-pid", make(HostConfig={"PidMode": "host"})),
        ("NetworkMode host", 403, "networks", make(HostConfig={"NetworkMode": "host"})),
        ("IpcMode host", 403, "no-host-ipc", make(HostConfig={"IpcMode": "host"})),
        ("UTSMode host", 403, "no-host-uts", make(HostConfig={"UTSMode": "host"})),
        ("UsernsMode host", 403, "no-host-userns", make(HostConfig={"UsernsMode": "host"})),
        ("a device", 403, "no-devices", make(HostConfig={"Devices": [
            {"PathOnHost": "/dev/sda", "PathInContainer": "/dev/sda",
             "CgroupPermissions": "rwm"}]})),
        ("sysctls", 403, "no-sysctls", make(HostConfig={"Sysctls": {"kernel.shmmax": "1"}})),
        ("another runtime", 403, "no-runtime", make(HostConfig={"Runtime": "runc-evil"})),
        ("cgroup parent", 403, "no-cgroup-parent", make(HostConfig={"CgroupParent": "/"})),
        ("root user", 403, "non-root-user", make(User="0:0")),
        ("writable root", 403, "read-only-root", make(HostConfig={"ReadonlyRootfs": False})),
        ("image of another registry", 403, "image-registry",
         make(Image="registry.example.org/aidock/extraction@" + image.partition("@")[2])),
        ("image by tag", 403, "image-registry", make(Image=f"{repository}:0.1.0")),
        ("pull from another registry", 403, "image-registry", _request(
            "POST", "/images/create?fromImage=docker.io%2Flibrary%2Falpine&tag=latest")),
        ("exec into the registry", 403, "deny-exec", _request(
            "POST", f"/containers/{VICTIM}/exec",
            json.dumps({"Cmd": ["id"], "AttachStdout": True}).encode())),
        ("stop a container not the agent's", 403, "container-not-owned",
         _request("POST", f"/containers/{VICTIM}/stop")),
        ("delete a container not the agent's", 403, "container-not-owned",
         _request("DELETE", f"/containers/{VICTIM}?force=1")),
        ("read files of a container", 403, "deny-archive",
         _request("GET", f"/containers/{VICTIM}/archive?path=/etc")),
        ("build an image", 403, "deny-build", _request("POST", "/build")),
        ("join a swarm", 403, "deny-swarm", _request("POST", "/swarm/join", b"{}")),
        ("install a plugin", 403, "deny-plugins", _request("POST", "/plugins/pull?remote=x")),
        ("list every container", 403, "container-list-filter", _request("GET", "/containers/json")),
        ("/v1.45/../", 403, "path-not-canonical", _raw("/v1.45/../volumes")),
        ("%2e%2e", 403, "path-not-canonical", _raw("/v1.45/containers/%2e%2e/volumes")),
        ("double slash", 403, "path-not-canonical", _raw("/v1.45//containers/json")),
        ("a 100 MB body", 413, "body-too-large", (
            f"POST /v1.45{create} HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n"
            "Content-Type: application/json\r\n"
            f"Content-Length: {100 * 2**20}\r\n\r\n", [b" " * 2**20])),
    ]  # fmt: skip


def make_raw(path: str, text: str) -> tuple[str, list[bytes]]:
    return _request("POST", path, text.encode())


def from_the_agent(
    docker_client: docker.DockerClient, requests: list[tuple[str, list[bytes]]]
) -> list[tuple[int, str]]:
    """Send raw requests to the agent's DOCKER_HOST from inside the agent's container."""
    payload = json.dumps(
        [[head, [base64.b64encode(p).decode() for p in parts]] for head, parts in requests]
    )
    agent = docker_client.containers.get(AGENT_CONTAINER)
    # The test harness uses the host's Docker socket to run the client in the agent's container.
    exec_id = docker_client.api.exec_create(
        agent.id, ["/opt/venv/bin/python", "-c", CLIENT], stdin=True, user="10001:10001"
    )["Id"]
    sock = docker_client.api.exec_start(exec_id, socket=True)
    # The SDK's attached socket: write stdin, then read the output.
    raw = sock._sock
    raw.sendall(payload.encode())
    raw.shutdown(1)
    output = b""
    while chunk := raw.recv(65536):
        output += chunk
    raw.close()
    assert docker_client.api.exec_inspect(exec_id)["ExitCode"] == 0, output[-2000:]
    return [tuple(r) for r in json.loads(_demux(output))]


def _demux(stream: bytes) -> bytes:
    """stdout of a non-tty exec stream (8-byte frame headers: stream, 0, 0, 0, size)."""
    out, rest = b"", stream
    while len(rest) >= 8:
        kind, size = rest[0], int.from_bytes(rest[4:8], "big")
        if kind == 1:
            out += rest[8 : 8 + size]
        rest = rest[8 + size :]
    return out


def test_the_agent_has_no_docker_socket(docker_client: docker.DockerClient) -> None:
    agent = docker_client.containers.get(AGENT_CONTAINER)
    assert not agent.attrs["HostConfig"].get("GroupAdd")
    assert "/run/aidock/docker" not in {m["Destination"] for m in agent.attrs["Mounts"]}
    env = dict(e.split("=", 1) for e in agent.attrs["Config"]["Env"])
    assert env["DOCKER_HOST"] == f"unix://{PROXY_SOCKET}"


def test_attacks_from_inside_the_agent_are_refused(
    docker_client: docker.DockerClient, site_image: str
) -> None:
    cases = attacks(site_image)
    assert len(cases) >= 25
    answers = from_the_agent(docker_client, [request for *_, request in cases])
    for (what, status, rule, _), (got, body) in zip(cases, answers, strict=True):
        assert got == status, (what, got, body)
        assert f"(rule: {rule})" in json.loads(body)["message"], (what, body)
    # dockerd's own view: none of the attacks left a container or a volume behind.
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(ATTACK_NAME)
    assert not docker_client.volumes.list(filters={"name": ATTACK_VOLUME})
    assert docker_client.containers.get(VICTIM).status == "running"
    # Every refusal is in the proxy's log with its rule.
    log = docker_client.containers.get(PROXY_CONTAINER).logs(tail=400).decode()
    for rule in ("no-privileged", "json-duplicate-key", "deny-exec", "container-not-owned"):
        assert f"(rule: {rule})" in log


def test_the_agent_still_reaches_docker_through_the_proxy(
    docker_client: docker.DockerClient,
) -> None:
    (status, body), (listed, containers) = from_the_agent(
        docker_client,
        [
            _request("GET", "/_ping"),
            _request(
                "GET",
                "/containers/json?filters=%7B%22label%22%3A%5B%22ai.aidock.owner%3Daidock-agent"
                "%22%5D%7D",
            ),
        ],
    )
    assert status == 200 and "OK" in body, body
    assert listed == 200, containers
