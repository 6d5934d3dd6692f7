"""The deployed agent stack (role agent): the agent in its own hardened container, the worker
beside it on internal networks, a batch of the shipped letters through an AI it starts.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import AGENT_CONTAINER, REPO, wait_healthy

AGENT_URL = "http://127.0.0.1:8700"
PROJECT = Path("/opt/aidock/stacks/agent")
LETTERS = sorted((REPO / "data" / "letters").glob("*.txt"))
OWNER = "aidock-agent"
PROXY_CONTAINER = "aidock-agent-dockerproxy-1"


@pytest.fixture(scope="module")
def token() -> str:
    return (REPO / ".secrets" / "agent.token").read_text().strip()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def owned_ais(client: docker.DockerClient) -> list[Any]:
    return client.containers.list(all=True, filters={"label": f"ai.aidock.owner={OWNER}"})


def compose(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["docker", "compose", "-f", str(PROJECT / "compose.yaml"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_agent_is_hardened_without_the_socket_group(docker_client: docker.DockerClient) -> None:
    attrs = docker_client.containers.get(AGENT_CONTAINER).attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert host["Privileged"] is False
    assert not host.get("GroupAdd")
    assert host["PortBindings"] == {"8700/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8700"}]}
    assert sorted(attrs["NetworkSettings"]["Networks"]) == [
        "aidock-agent_api",
        "aidock-agent_control",
        "aidock-ai",
        "aidock-registry",
    ]
    assert docker_client.networks.get("aidock-ai").attrs["Internal"] is True
    assert docker_client.networks.get("aidock-registry").attrs["Internal"] is True


def test_policy_proxy_holds_the_socket_group_and_no_network(
    docker_client: docker.DockerClient,
) -> None:
    attrs = docker_client.containers.get(PROXY_CONTAINER).attrs
    host = attrs["HostConfig"]
    assert attrs["Config"]["User"] == "10001:10001"
    assert (host["Privileged"], host["ReadonlyRootfs"], host["CapDrop"]) == (False, True, ["ALL"])
    assert host["SecurityOpt"] == ["no-new-privileges:true"]
    assert host["GroupAdd"] == [str(Path("/run/aidock/docker/docker.sock").stat().st_gid)]
    assert host["NetworkMode"] == "none"
    assert host["Memory"] > 0 and host["NanoCpus"] > 0 and host["PidsLimit"] > 0
    assert attrs["State"]["Health"]["Status"] == "healthy"


def test_only_the_policy_proxy_gets_the_docker_socket() -> None:
    result = compose("--profile", "worker", "config", "--format", "json")
    assert result.returncode == 0, result.stderr
    services = json.loads(result.stdout)["services"]
    assert set(services) == {"agent", "dockerproxy", "worker"}
    mounts = {name: [v.get("source") for v in s.get("volumes", [])] for name, s in services.items()}
    # The socket's directory, read-only: the socket dockerd makes anew on a restart shows there.
    by_target = {v["target"]: v for v in services["dockerproxy"]["volumes"]}
    socket_dir = by_target["/run/aidock/docker"]
    assert (socket_dir["source"], socket_dir.get("read_only")) == ("/run/aidock/docker", True)
    proxy_env = services["dockerproxy"]["environment"]
    assert proxy_env["AIDOCK_DOCKERPROXY_UPSTREAM"] == "/run/aidock/docker/docker.sock"
    # The agent reaches Docker only through the proxy's socket, by its volume (a directory).
    agent_env = services["agent"]["environment"]
    assert agent_env["DOCKER_HOST"] == "unix:///run/aidock/dockerproxy/docker.sock"
    assert not any(str(m) == "/run/aidock/docker" for m in mounts["agent"])
    assert not any("docker.sock" in str(m) for m in mounts["agent"] + mounts["dockerproxy"])
    assert not any("docker" in str(m) for m in mounts["worker"])
    assert sorted(services["worker"]["networks"]) == ["ai", "control"]
    # The agent and the proxy agree on whose containers and which registry.
    assert proxy_env["AIDOCK_DOCKERPROXY_OWNER"] == agent_env["AIDOCK_AGENT_OWNER"]
    assert proxy_env["AIDOCK_DOCKERPROXY_REGISTRY"] == agent_env["AIDOCK_AGENT_REGISTRY"]
    assert proxy_env["AIDOCK_DOCKERPROXY_NAMESPACE"] == agent_env["AIDOCK_AGENT_NAMESPACE"]
    assert json.loads(proxy_env["AIDOCK_DOCKERPROXY_NETWORKS"]) == [
        agent_env["AIDOCK_AGENT_NETWORK"]
    ]


def test_token_is_required(token: str) -> None:
    assert requests.get(f"{AGENT_URL}/healthz", timeout=10).json()["docker"] is True
    assert requests.get(f"{AGENT_URL}/v1/instances", timeout=10).status_code == 401
    resp = requests.get(f"{AGENT_URL}/v1/instances", headers=auth("x" * 32), timeout=10)
    assert resp.status_code == 401


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"version": "0.1.0"}, "ai"),
        ({"ai": "extraction"}, "version"),
        ({"ai": "extraction", "version": 7}, "version"),
        ({"ai": "extraction", "version": "0.1.0", "extra": 1}, "extra"),
    ],
)
def test_malformed_requests_name_the_field(token: str, body: dict[str, Any], field: str) -> None:
    resp = requests.post(f"{AGENT_URL}/v1/instances", json=body, headers=auth(token), timeout=10)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field


@pytest.fixture
def batch_dirs() -> Iterator[tuple[Path, Path]]:
    """The stack's input and output directories, holding the shipped letters, emptied after."""
    inbox, outbox = PROJECT / "input", PROJECT / "output"
    for path in (*inbox.iterdir(), *outbox.iterdir()):
        path.unlink()
    for letter in LETTERS:
        shutil.copy(letter, inbox / letter.name)
    yield inbox, outbox
    for path in (*inbox.iterdir(), *outbox.iterdir()):
        path.unlink()


def test_worker_service_runs_a_batch_through_the_agent(
    docker_client: docker.DockerClient, batch_dirs: tuple[Path, Path]
) -> None:
    _, outbox = batch_dirs
    before = {c.id for c in owned_ais(docker_client)}
    args = ("--ai", "categorization", "--version", "0.1.0", "--input", "/input")
    result = compose("run", "--rm", "-T", "worker", "run", *args, "--output", "/output/c.jsonl")
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    lines = [json.loads(line) for line in (outbox / "c.jsonl").read_text().splitlines()]
    assert sorted(line["document"] for line in lines) == [p.name for p in LETTERS]
    assert all(line["ok"] for line in lines)
    categories = {line["result"]["category"] for line in lines}
    assert {"invoice", "reminder"} <= categories
    assert {line["result"]["schema_version"] for line in lines} == {"categorization/v1"}
    # The worker terminated its instance: nothing new of the agent's is left.
    assert {c.id for c in owned_ais(docker_client)} <= before

    # A rerun finds every document done and starts nothing.
    again = compose("run", "--rm", "-T", "worker", "run", *args, "--output", "/output/c.jsonl")
    assert again.returncode == 0, again.stderr[-2000:]
    assert len((outbox / "c.jsonl").read_text().splitlines()) == len(LETTERS)


@contextmanager
def instance(token: str, ai: str) -> Iterator[dict[str, Any]]:
    """An instance of ``ai`` from the deployed agent, terminated (204) when the block ends."""
    resp = requests.post(
        f"{AGENT_URL}/v1/instances",
        json={"ai": ai, "version": "0.1.0"},
        headers=auth(token),
        timeout=300,
    )
    assert resp.status_code == 201, resp.text
    body = resp.json()
    try:
        yield body
    finally:
        gone = requests.delete(
            f"{AGENT_URL}/v1/instances/{body['id']}", headers=auth(token), timeout=120
        )
    assert gone.status_code == 204


def test_ai_started_by_the_agent_is_internal_only(
    docker_client: docker.DockerClient, token: str
) -> None:
    with instance(token, "extraction") as body:
        assert body["endpoint"] == f"http://{body['container']}:3000"
        attrs = docker_client.containers.get(body["container"]).attrs
        assert list(attrs["NetworkSettings"]["Networks"]) == ["aidock-ai"]
        assert not attrs["HostConfig"]["PortBindings"]
        assert attrs["HostConfig"]["ReadonlyRootfs"] is True
    with pytest.raises(docker.errors.NotFound):
        docker_client.containers.get(body["container"])


def test_restarted_agent_adopts_its_running_ai(
    docker_client: docker.DockerClient, token: str
) -> None:
    with instance(token, "categorization") as body:
        agent = docker_client.containers.get(AGENT_CONTAINER)
        agent.restart(timeout=30)
        assert wait_healthy(agent) == "healthy"
        listed = requests.get(f"{AGENT_URL}/v1/instances", headers=auth(token), timeout=30)
        assert listed.status_code == 200
        assert [i["id"] for i in listed.json()["instances"]] == [body["id"]]
        assert docker_client.containers.get(body["container"]).status == "running"
    assert owned_ais(docker_client) == []
