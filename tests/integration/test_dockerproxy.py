"""The Docker API policy proxy for real: ``aidock dockerproxy serve`` on a temporary unix socket
in front of this host's dockerd, driven by the agent's own ``DockerOps`` on the Docker SDK.

The agent's flow (network, local image by digest, pull by digest, create hardened, start,
inspect, logs, list, stop, remove) passes; attacks are answered 403 with their rule and,
checked on dockerd's own socket, nothing of theirs exists afterwards. Everything this module
makes carries a fresh owner and network name and is removed at the end. It needs an image
``localhost:5000/aidock/<ai>`` with a registry digest on this host (``make deploy``).
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import suppress
from pathlib import Path
from typing import Any

import docker
import pytest
import yaml
from conftest import hardened_create_body
from docker.errors import APIError, NotFound

from aidock.agent import OWNER_LABEL
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import DockerOps, RunSpec
from aidock.agent.errors import DockerUnavailable
from aidock.schemas.manifest import AiManifest

PROJECT = Path(__file__).resolve().parents[2]
REGISTRY = "localhost:5000"
NAMESPACE = "aidock"
SUFFIX = secrets.token_hex(4)
OWNER = f"proxytest-{SUFFIX}"
NETWORK = f"aidock-proxytest-{SUFFIX}"
ATTACK_VOLUME = f"proxytest-root-{SUFFIX}"
ATTACK_NAME = f"aidock-ai-proxytest-attack-{SUFFIX}"
FOREIGN_NAME = f"aidock-ai-proxytest-foreign-{SUFFIX}"
DIGEST0 = "sha256:" + "0" * 64


def _site_image(client: docker.DockerClient) -> tuple[str, str]:
    """(repository, digest) of a local image of the site registry's AI namespace."""
    prefix = f"{REGISTRY}/{NAMESPACE}/"
    for image in client.images.list():
        for repo_digest in image.attrs.get("RepoDigests") or []:
            name, _, digest = repo_digest.partition("@")
            if name.startswith(prefix) and "itest" not in name and "bench" not in name:
                return name, digest
    pytest.skip(f"no local image of {prefix} with a registry digest (run make deploy)")


@pytest.fixture(scope="module")
def direct() -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url="unix:///var/run/docker.sock")
    yield client
    for container in client.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={OWNER}"}):
        container.remove(force=True, v=True)
    for name in (ATTACK_NAME, FOREIGN_NAME):
        with suppress(NotFound):
            client.containers.get(name).remove(force=True, v=True)
    for volume in client.volumes.list(filters={"name": ATTACK_VOLUME}):
        volume.remove(force=True)
    for network in client.networks.list(names=[NETWORK]):
        network.remove()
    client.close()


@pytest.fixture(scope="module")
def proxy_socket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``aidock dockerproxy serve`` (a process of its own) on a temporary socket."""
    where = tmp_path_factory.mktemp("dockerproxy")
    listen = where / "docker.sock"
    env = {
        **os.environ,
        "AIDOCK_DOCKERPROXY_LISTEN": str(listen),
        "AIDOCK_DOCKERPROXY_UPSTREAM": "/var/run/docker.sock",
        "AIDOCK_DOCKERPROXY_REGISTRY": REGISTRY,
        "AIDOCK_DOCKERPROXY_NAMESPACE": NAMESPACE,
        "AIDOCK_DOCKERPROXY_OWNER": OWNER,
        "AIDOCK_DOCKERPROXY_NETWORKS": json.dumps([NETWORK]),
        "AIDOCK_DOCKERPROXY_THREADS": "4",
        "TMPDIR": str(where),
    }
    cli = Path(sys.executable).parent / "aidock"
    log = (where / "proxy.log").open("wb")
    proc = subprocess.Popen(
        [str(cli), "dockerproxy", "serve"], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while not listen.exists():
            assert proc.poll() is None, (where / "proxy.log").read_text()
            assert time.monotonic() < deadline, "the proxy did not create its socket"
            time.sleep(0.1)
        yield listen
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture(scope="module")
def via_proxy(proxy_socket: Path) -> Iterator[docker.DockerClient]:
    client = docker.DockerClient(base_url=f"unix://{proxy_socket}", timeout=60)
    yield client
    client.close()


def raw_request(sock_path: Path, head: str, body_parts: list[bytes]) -> tuple[int, bytes]:
    """Send a hand-written HTTP request; return (status, body) of the answer."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(str(sock_path))
        sock.sendall(head.encode())
        try:
            for part in body_parts:
                sock.sendall(part)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the proxy answered (413) before reading all of it
        sock.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
            if b"\r\n\r\n" in data and b"Content-Length" in data.split(b"\r\n\r\n")[0]:
                headers, _, rest = data.partition(b"\r\n\r\n")
                length = int(headers.split(b"Content-Length: ")[1].split(b"\r\n")[0])
                if len(rest) >= length:
                    break
    status = int(data.split(b" ", 2)[1])
    return status, data.partition(b"\r\n\r\n")[2]


def test_agent_flow_passes_through_the_proxy(
    via_proxy: docker.DockerClient, direct: docker.DockerClient
) -> None:
    repository, digest = _site_image(direct)
    config = AgentConfig(
        owner=OWNER,
        registry=REGISTRY,
        namespace=NAMESPACE,
        network=NETWORK,
        endpoint_mode="network",
        stop_timeout=2,
    )
    ops = DockerOps(config, via_proxy)
    assert ops.ping()
    ops.ensure_network()
    assert direct.networks.get(NETWORK).attrs["Internal"] is True
    ai = repository.rsplit("/", 1)[1]
    image = ops.ensure_image(ImageRef(REGISTRY, f"{NAMESPACE}/{ai}", "proxytest"), digest)
    assert image.pulled is False  # local: inspected by digest through the proxy
    spec = AiManifest(
        schema_version=f"{ai}/v1",
        port=3000,
        memory="256m",
        pids=64,
        tmpfs={"/tmp": "size=16m,mode=1777"},
    )
    info = ops.run(RunSpec(SUFFIX, f"proxytest-{ai}", "0", image.ref, "2026-11-30T00:00:00Z", spec))
    try:
        assert info.hardened, info.problems
        seen = direct.containers.get(info.id).attrs
        assert seen["HostConfig"]["ReadonlyRootfs"] is True
        assert seen["HostConfig"]["CapDrop"] == ["ALL"]
        assert seen["Config"]["User"] == "10001:10001"
        assert ops.inspect(info.id) is not None
        ops.logs(info.id)  # answered (may be empty this early)
        assert [c.id for c in ops.list_owned()] == [info.id]
        # A pull by digest from the site registry is allowed (and a no-op: the image is local).
        try:
            via_proxy.images.pull(repository, tag=digest)
        except APIError as exc:
            assert "(rule:" not in str(exc.explanation), exc.explanation
    finally:
        assert ops.remove(info.id)
    with pytest.raises(NotFound):
        direct.containers.get(info.id)


def test_attacks_are_refused_and_create_nothing(
    via_proxy: docker.DockerClient, direct: docker.DockerClient, proxy_socket: Path
) -> None:
    repository, digest = _site_image(direct)
    api = via_proxy.api
    base = hardened_create_body(f"{repository}@{digest}", OWNER, NETWORK)
    host = base["HostConfig"]
    # Not the agent's: made on dockerd's own socket, never started.
    foreign = direct.containers.create(f"{repository}@{digest}", name=FOREIGN_NAME, user="10001")

    def create(**change: Any) -> Any:
        return api.create_container_from_config({**base, **change}, name=ATTACK_NAME)

    # The hardened body itself passes: each attack below differs from it by one field.
    direct.containers.get(create()["Id"]).remove(force=True)
    attacks: list[tuple[str, Any]] = [
        ("no-privileged", lambda: create(HostConfig={**host, "Privileged": True})),
        ("no-binds", lambda: create(HostConfig={**host, "Binds": ["/:/host"]})),
        ("no-cap-add", lambda: create(HostConfig={**host, "CapAdd": ["SYS_ADMIN"]})),
        ("no-host-pid", lambda: create(HostConfig={**host, "PidMode": "host"})),
        ("networks", lambda: create(HostConfig={**host, "NetworkMode": "host"})),
        ("image-registry", lambda: create(Image=f"{repository}:0.1.0")),
        (
            "deny-volumes",
            lambda: via_proxy.volumes.create(
                ATTACK_VOLUME,
                driver="local",
                driver_opts={"type": "none", "o": "bind", "device": "/"},
            ),
        ),
        ("deny-exec", lambda: api.exec_create("aidock-registry-registry-1", ["id"])),
        ("image-registry", lambda: via_proxy.images.pull("docker.io/library/alpine", tag=DIGEST0)),
        ("image-digest", lambda: via_proxy.images.pull(repository, tag="latest")),
        ("container-not-owned", lambda: api.stop(foreign.id)),
        ("container-not-owned", lambda: api.remove_container(FOREIGN_NAME, force=True)),
        ("container-not-owned", lambda: api.logs(FOREIGN_NAME)),
    ]
    for rule, attack in attacks:
        with pytest.raises(APIError) as caught:
            attack()
        assert caught.value.status_code == 403
        assert f"(rule: {rule})" in str(caught.value.explanation)

    lower = json.loads(json.dumps(base))
    lower["HostConfig"]["privileged"] = True
    duplicate = json.dumps(base).replace(
        '"HostConfig": {', '"HostConfig": {"Privileged": false, "Privileged": true, ', 1
    )
    create_head = f"POST /v1.45/containers/create?name={ATTACK_NAME} HTTP/1.1\r\nHost: docker\r\n"
    json_head = "Content-Type: application/json\r\n"
    raw_attacks = [
        (
            "json-key-case",
            create_head + json_head + f"Content-Length: {len(json.dumps(lower))}\r\n\r\n",
            [json.dumps(lower).encode()],
            403,
        ),
        (
            "json-duplicate-key",
            create_head + json_head + "Transfer-Encoding: chunked\r\n\r\n",
            [_chunk(duplicate[:40].encode()), _chunk(duplicate[40:].encode()), b"0\r\n\r\n"],
            403,
        ),
        (
            "path-not-canonical",
            "POST /v1.45/containers/%2e%2e/volumes/create HTTP/1.1\r\n"
            "Host: docker\r\nContent-Length: 0\r\n\r\n",
            [],
            403,
        ),
        (
            "path-not-canonical",
            "GET /v1.45//containers/json HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
            [],
            403,
        ),
        (
            "path-not-canonical",
            "POST /v1.45/../volumes/create HTTP/1.1\r\nHost: docker\r\nContent-Length: 0\r\n\r\n",
            [],
            403,
        ),
        (
            "body-too-large",
            create_head + json_head + f"Content-Length: {100 * 2**20}\r\n\r\n",
            [],
            413,
        ),
        (
            "body-too-large",
            create_head + json_head + "Transfer-Encoding: chunked\r\n\r\n",
            [_chunk(b" " * 2**20), _chunk(b" " * 2**20)],
            413,
        ),
    ]
    for rule, head, parts, status in raw_attacks:
        got, body = raw_request(proxy_socket, head, parts)
        assert got == status, (rule, body)
        assert f"(rule: {rule})" in json.loads(body)["message"]

    # dockerd's own view: nothing of the attacks exists.
    with pytest.raises(NotFound):
        direct.containers.get(ATTACK_NAME)
    assert not direct.containers.list(all=True, filters={"label": f"{OWNER_LABEL}={OWNER}"})
    assert not direct.volumes.list(filters={"name": ATTACK_VOLUME})
    foreign.reload()
    assert foreign.status == "created"
    log = (proxy_socket.parent / "proxy.log").read_text()
    for rule in ("no-privileged", "deny-exec", "container-not-owned", "json-duplicate-key"):
        assert f"(rule: {rule})" in log


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def test_the_compose_healthcheck_pings_dockerd_through_the_proxy(proxy_socket: Path) -> None:
    """The proxy container's healthcheck, as compose/agent/compose.yaml writes it, with this
    venv's Python and the test proxy's socket: healthy through the proxy, unhealthy without."""
    compose = yaml.safe_load((PROJECT / "compose" / "agent" / "compose.yaml").read_text())
    test = compose["services"]["dockerproxy"]["healthcheck"]["test"]
    assert test[:2] == ["CMD", "/opt/venv/bin/python"], test
    socket_at = test.index("--unix-socket") + 1

    def run(sock: Path) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, *test[2:socket_at], str(sock), *test[socket_at + 1 :]]
        return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)

    ok = run(proxy_socket)
    assert ok.returncode == 0, ok.stderr
    gone = run(proxy_socket.parent / "none.sock")
    assert gone.returncode == 1
    assert "is not reachable" in gone.stderr


def test_ping_answers_through_the_proxy(proxy_socket: Path) -> None:
    cli = Path(sys.executable).parent / "aidock"
    ok = subprocess.run(
        [str(cli), "dockerproxy", "ping", "--socket", str(proxy_socket)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert ok.returncode == 0, ok.stderr
    gone = subprocess.run(
        [str(cli), "dockerproxy", "ping", "--socket", str(proxy_socket.parent / "none.sock")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert gone.returncode == 3


def test_a_silent_dockerd_looks_like_a_dead_socket_to_the_agent(
    tmp_path: Path,
) -> None:
    """dockerd down behind the proxy: the agent sees a connection error, as without the proxy,
    so its outage handling (503, reconnect, adoption) applies unchanged."""
    listen = tmp_path / "docker.sock"
    env = {
        **os.environ,
        "AIDOCK_DOCKERPROXY_LISTEN": str(listen),
        "AIDOCK_DOCKERPROXY_UPSTREAM": str(tmp_path / "no-dockerd.sock"),
        "AIDOCK_DOCKERPROXY_OWNER": OWNER,
        "AIDOCK_DOCKERPROXY_NETWORKS": json.dumps([NETWORK]),
        "AIDOCK_DOCKERPROXY_THREADS": "2",
        "TMPDIR": str(tmp_path),
    }
    cli = Path(sys.executable).parent / "aidock"
    proc = subprocess.Popen(
        [str(cli), "dockerproxy", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while not listen.exists():
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.1)
        config = AgentConfig(owner=OWNER, network=NETWORK, endpoint_mode="network")
        ops = DockerOps(
            config,
            connect=lambda: docker.DockerClient(base_url=f"unix://{listen}", version="1.45"),
        )
        assert ops.ping() is False
        with pytest.raises(DockerUnavailable):
            ops.list_owned()
    finally:
        proc.terminate()
        proc.wait(timeout=15)
