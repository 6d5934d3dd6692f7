"""Fixtures of the integration tests: the stack `make deploy` brought up on this host.

Nothing here is faked: real dockerd, the real registry on localhost:5000 behind the site CA,
and the RAG AI on 127.0.0.1:5001. Every test is marked `integration`.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from docker.models.containers import Container

from aidock.agent import OWNER_LABEL

REPO = Path(__file__).resolve().parents[2]
SECRETS = REPO / ".secrets"
REGISTRY = "localhost:5000"
REGISTRY_URL = f"https://{REGISTRY}"
CA_FILE = Path("/etc/aidock/pki/ca.crt")
REGISTRY_USER = "aidock"
RAG_URL = "http://127.0.0.1:5001"
RAG_IMAGE = f"{REGISTRY}/aidock/rag:0.1.0"
REGISTRY_CONTAINER = "aidock-registry-registry-1"
RAG_CONTAINER = "aidock-rag-rag-1"
BENTO_CONTAINERS = ["aidock-extraction-extraction-1", "aidock-categorization-categorization-1"]
AGENT_CONTAINER = "aidock-agent-agent-1"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)


HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the tests of this directory only (the hook sees every collected item)."""
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def registry_password() -> str:
    return (SECRETS / f"registry-{REGISTRY_USER}.password").read_text().strip()


@pytest.fixture(scope="session")
def docker_client() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def wait_healthy(container: Container, timeout: float = 120.0) -> str:
    """Poll a container's health until it is healthy or unhealthy; return the last state."""
    deadline = time.monotonic() + timeout
    status = "unknown"
    while time.monotonic() < deadline:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status", "none")
        if status in ("healthy", "unhealthy") or container.status == "exited":
            return status
        time.sleep(0.5)
    return status


def aidock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run the aidock CLI of this venv."""
    cli = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "aidock"
    if not cli.exists():
        cli = REPO / ".venv" / "bin" / "aidock"
    return subprocess.run(
        [str(cli), *args],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **(env or {})},
        check=False,
    )


def served_digest(repository: str, tag: str, password: str) -> str:
    """The manifest digest the site registry serves for ``repository:tag`` (asserted 200)."""
    resp = requests.head(
        f"{REGISTRY_URL}/v2/{repository}/manifests/{tag}",
        auth=(REGISTRY_USER, password),
        verify=CA_FILE,
        headers={"Accept": MANIFEST_TYPES},
        timeout=10,
    )
    assert resp.status_code == 200, (repository, tag, resp.status_code)
    return resp.headers["Docker-Content-Digest"]


def delete_repository(name: str, password: str) -> None:
    """Delete every tag of aidock/<name> from the registry (garbage collection reclaims it)."""
    auth = (REGISTRY_USER, password)
    base = f"{REGISTRY_URL}/v2/aidock/{name}"
    tags = requests.get(f"{base}/tags/list", auth=auth, verify=CA_FILE, timeout=10)
    for tag in (tags.json().get("tags") or []) if tags.status_code == 200 else []:
        head = requests.head(
            f"{base}/manifests/{tag}",
            auth=auth,
            verify=CA_FILE,
            headers={"Accept": MANIFEST_TYPES},
            timeout=10,
        )
        digest = head.headers.get("Docker-Content-Digest")
        if digest:
            requests.delete(f"{base}/manifests/{digest}", auth=auth, verify=CA_FILE, timeout=10)


def hardened_create_body(image: str, owner: str, network: str) -> dict[str, Any]:
    """A container-create body as the agent sends it (Docker Engine API): the hardening the
    policy proxy requires, for `image` (by digest), the `owner` label and `network`. Attacks on
    the proxy change one field of it."""
    return {
        "Image": image,
        "User": "10001:10001",
        "Labels": {OWNER_LABEL: owner},
        "HostConfig": {
            "ReadonlyRootfs": True,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges:true"],
            "Memory": 268435456,
            "NanoCpus": 500000000,
            "PidsLimit": 64,
            "NetworkMode": network,
        },
    }
