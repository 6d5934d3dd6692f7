"""The site playbook on this host: idempotent, engine pinned, stacks hardened, inputs checked."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import docker
import pytest
from conftest import (
    AGENT_CONTAINER,
    BENTO_CONTAINERS,
    RAG_CONTAINER,
    REGISTRY,
    REGISTRY_CONTAINER,
    REPO,
    served_digest,
)

STACK_PROJECTS = {
    "aidock-registry",
    "aidock-rag",
    "aidock-extraction",
    "aidock-categorization",
    "aidock-agent",
}
DIGEST_RECORDS = Path("/var/lib/aidock/digests")
# <registry>/<repository>:<tag>@<digest>: how a stack names its image.
PINNED = re.compile(rf"{re.escape(REGISTRY)}/([a-z0-9/-]+):([\w.-]+)@(sha256:[0-9a-f]{{64}})")
ENGINE_PACKAGES = ["docker.io", "docker-cli", "docker-compose", "docker-buildx", "containerd"]


def playbook(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def recap(output: str) -> dict[str, int]:
    line = re.search(r"^localhost\s*:\s*(.*)$", output, re.MULTILINE)
    assert line, output[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def test_second_run_changes_nothing() -> None:
    result = playbook("playbooks/site.yml")
    assert result.returncode == 0, result.stdout[-4000:]
    counts = recap(result.stdout)
    assert counts["changed"] == 0, result.stdout[-6000:]
    assert counts["failed"] == 0


def installed_version(package: str) -> str:
    return subprocess.run(
        ["dpkg-query", "-W", "-f", "${Version}", package],
        capture_output=True,
        text=True,
        check=True,
    ).stdout


def candidate_suites(package: str) -> str:
    return subprocess.run(
        ["apt-cache", "policy", package], capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.parametrize("package", ENGINE_PACKAGES)
def test_engine_packages_come_from_trixie(package: str) -> None:
    version = installed_version(package)
    policy = candidate_suites(package)
    # The lines under "*** <installed version>" name the suites that offer that version.
    lines = policy.split(f"*** {version}", 1)[1].splitlines()[1:]
    sources = [
        line
        for line in lines[
            : next(
                (i for i, line in enumerate(lines) if not line.startswith("        ")), len(lines)
            )
        ]
    ]
    assert any("trixie" in line for line in sources), policy
    assert not any("bookworm" in line for line in sources), policy


@pytest.mark.parametrize(("package", "prefix"), [("libc6", "2.36-"), ("python3", "3.11.")])
def test_host_keeps_bookworm_libc_and_python(package: str, prefix: str) -> None:
    assert installed_version(package).startswith(prefix)


@pytest.mark.parametrize(
    "name", [REGISTRY_CONTAINER, RAG_CONTAINER, *BENTO_CONTAINERS, AGENT_CONTAINER]
)
def test_stack_is_hardened_and_on_loopback(docker_client: docker.DockerClient, name: str) -> None:
    config = docker_client.containers.get(name).attrs["HostConfig"]
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert config["Memory"] > 0
    assert config["NanoCpus"] > 0  # docker-bench-security 5.12
    assert config["PidsLimit"] > 0
    assert config["RestartPolicy"]["Name"] == "unless-stopped"
    for bindings in config["PortBindings"].values():
        assert all(binding["HostIp"] == "127.0.0.1" for binding in bindings)


def test_daemon_json_is_hardened() -> None:
    with open("/etc/docker/daemon.json") as handle:
        daemon = json.load(handle)
    assert daemon["live-restore"] is True
    assert daemon["no-new-privileges"] is True
    assert daemon["log-opts"]["max-size"]


def stack_containers(docker_client: docker.DockerClient) -> dict[str, str]:
    """Name -> id of the containers of the deployed stacks (other containers may come and go)."""
    return {
        c.name: c.id
        for c in docker_client.containers.list(all=True)
        if c.labels.get("com.docker.compose.project") in STACK_PROJECTS
    }


def test_stacks_run_their_images_by_the_digest_recorded_at_push(
    docker_client: docker.DockerClient, registry_password: str
) -> None:
    """Every container of the AI and agent stacks names its image by digest; that digest is the
    one the build host recorded when it pushed the tag, and the one the registry serves for it."""
    pushed = [
        c
        for c in docker_client.containers.list()
        if c.labels.get("com.docker.compose.project") in STACK_PROJECTS - {"aidock-registry"}
    ]
    assert {c.labels["com.docker.compose.project"] for c in pushed} == STACK_PROJECTS - {
        "aidock-registry"
    }
    for container in pushed:
        ref = container.attrs["Config"]["Image"]
        match = PINNED.fullmatch(ref)
        assert match, (container.name, ref)
        repository, tag, digest = match.groups()
        record = (DIGEST_RECORDS / repository / tag).read_text().strip()
        assert digest == record == served_digest(repository, tag, registry_password), container.name
        assert f"{REGISTRY}/{repository}@{digest}" in container.image.attrs["RepoDigests"]


@pytest.mark.parametrize(
    ("play", "extra", "message"),
    [
        (
            "playbooks/stacks.yml",
            '{"ai_stack_list": [{"name": "Bad Name", "version": "1", "port": 5001}]}',
            "needs a name",
        ),
        (
            "playbooks/stacks.yml",
            '{"ai_stack_list": [{"name": "a", "version": "1", "port": 5001},'
            ' {"name": "b", "version": "1", "port": 5001}]}',
            "no two stacks may share a port",
        ),
        ("playbooks/registry.yml", '{"registry_port": 70000}', "registry_port must be 1-65535"),
        (
            "playbooks/registry.yml",
            '{"registry_users": [{"name": "x", "password": "short"}]}',
            "12 or more characters",
        ),
        (
            "playbooks/images.yml",
            '{"ai_image_list": [{"name": "rag", "version": "bad tag!"}]}',
            "version usable as an image tag",
        ),
        (
            "playbooks/stacks.yml",
            '{"ai_stack_list": [{"name": "rag", "version": "9.9.9-never-pushed", "port": 5001}]}',
            "No digest recorded at push for rag",
        ),
        (
            "playbooks/agent.yml",
            '{"agent_version": "9.9.9-never-pushed"}',
            "No digest recorded at push for aidock-platform/agent:9.9.9-never-pushed",
        ),
        ("playbooks/agent.yml", '{"agent_token": "short"}', "agent_token must be at least 16"),
        ("playbooks/agent.yml", '{"agent_port": 0}', "agent_port 1-65535"),
    ],
)
def test_bad_input_fails_early_and_changes_nothing(
    docker_client: docker.DockerClient, play: str, extra: str, message: str
) -> None:
    before = stack_containers(docker_client)
    result = playbook(play, "-e", extra)
    assert result.returncode != 0
    assert message in result.stdout
    assert recap(result.stdout)["changed"] == 0
    assert stack_containers(docker_client) == before
