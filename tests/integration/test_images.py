"""Hardened images: non-root, no compilers or package managers, read-only root, healthy.

Each image runs as a fresh container with a read-only root filesystem; testinfra's docker://
backend then looks inside it.
"""

from __future__ import annotations

from collections.abc import Iterator

import docker
import pytest
import testinfra
from conftest import BENTO_CONTAINERS, RAG_IMAGE, REGISTRY_CONTAINER, wait_healthy
from docker.models.containers import Container

FORBIDDEN_TOOLS = [
    "gcc",
    "cc",
    "g++",
    "make",
    "git",
    "curl",
    "apt",
    "apt-get",
    "dpkg",
    "pip",
    "pip3",
]


# /data as a tmpfs owned by the runtime user: the volume's role, without leaving a volume behind.
DATA_TMPFS = "size=64m,uid=10001,gid=10001,mode=0700"


@pytest.fixture(scope="module")
def rag_container(docker_client: docker.DockerClient) -> Iterator[Container]:
    """The RAG image started the strict way: read-only root, tmpfs /tmp, no capabilities."""
    container = docker_client.containers.run(
        RAG_IMAGE,
        detach=True,
        read_only=True,
        tmpfs={"/tmp": "size=64m", "/data": DATA_TMPFS},
        cap_drop=["ALL"],
        security_opt=["no-new-privileges:true"],
        network_mode="none",
        labels={"ai.aidock.test": "integration"},
    )
    try:
        yield container
    finally:
        container.remove(force=True)


@pytest.fixture(scope="module")
def registry_container(docker_client: docker.DockerClient) -> Container:
    return docker_client.containers.get(REGISTRY_CONTAINER)


@pytest.fixture(scope="module", params=["rag", "registry", *BENTO_CONTAINERS])
def running(
    request: pytest.FixtureRequest,
    docker_client: docker.DockerClient,
    rag_container: Container,
    registry_container: Container,
) -> Container:
    """A fresh RAG container, or a container of the deployed stacks."""
    named = {"rag": rag_container, "registry": registry_container}
    return named.get(request.param) or docker_client.containers.get(request.param)


def test_reaches_healthy_with_read_only_root(running: Container) -> None:
    assert running.attrs["HostConfig"]["ReadonlyRootfs"] is True
    assert wait_healthy(running) == "healthy"


def test_runs_as_non_root(running: Container) -> None:
    host = testinfra.get_host(f"docker://{running.id}")
    assert host.user().uid == 10001
    # PID 1 (the service itself, no ps in the image): its real, effective, saved and fs uids.
    status = host.file("/proc/1/status").content_string
    uids = next(line for line in status.splitlines() if line.startswith("Uid:")).split()[1:]
    assert uids == ["10001"] * 4


@pytest.mark.parametrize("tool", FORBIDDEN_TOOLS)
def test_has_no_build_tool_or_package_manager(running: Container, tool: str) -> None:
    host = testinfra.get_host(f"docker://{running.id}")
    assert not host.exists(tool)
    for directory in ("/usr/bin", "/usr/local/bin", "/opt/venv/bin"):
        assert not host.file(f"{directory}/{tool}").exists


def test_root_filesystem_is_not_writable(running: Container) -> None:
    host = testinfra.get_host(f"docker://{running.id}")
    assert host.run("touch /etc/aidock-probe").rc != 0
    assert host.run("touch /tmp/aidock-probe").rc == 0


@pytest.mark.parametrize(
    "image",
    [
        RAG_IMAGE,
        "aidock/registry:2.8.2-1",
        "aidock/python-base:bookworm-1",
        "localhost:5000/aidock/extraction:0.1.0",
        "localhost:5000/aidock/categorization:0.1.0",
    ],
)
def test_image_metadata(docker_client: docker.DockerClient, image: str) -> None:
    config = docker_client.images.get(image).attrs["Config"]
    assert config["User"].split(":")[0] == "10001"
    labels = config["Labels"]
    assert labels["ai.aidock.schema-version"]
    assert labels["org.opencontainers.image.version"]
    if image != "aidock/python-base:bookworm-1":
        assert labels["org.opencontainers.image.title"].startswith("aidock")
        # A HEALTHCHECK in exec form: no shell, no curl.
        assert config["Healthcheck"]["Test"][0] == "CMD"
        assert "curl" not in " ".join(config["Healthcheck"]["Test"])
