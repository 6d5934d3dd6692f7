"""The private registry: TLS with the site CA, htpasswd auth, persistence, delete and GC."""

from __future__ import annotations

import contextlib
import subprocess
import uuid
from pathlib import Path

import docker
import pytest
import requests
from conftest import (
    CA_FILE,
    MANIFEST_TYPES,
    RAG_IMAGE,
    REGISTRY,
    REGISTRY_CONTAINER,
    REGISTRY_URL,
    REGISTRY_USER,
    REPO,
    served_digest,
    wait_healthy,
)


def get(path: str, auth: tuple[str, str] | None = None, **kwargs) -> requests.Response:
    return requests.get(
        f"{REGISTRY_URL}{path}", auth=auth, verify=str(CA_FILE), timeout=10, **kwargs
    )


def test_api_requires_credentials() -> None:
    response = get("/v2/")
    assert response.status_code == 401
    assert "Basic" in response.headers["WWW-Authenticate"]


def test_wrong_password_is_refused() -> None:
    assert get("/v2/", auth=(REGISTRY_USER, "wrong-password-123")).status_code == 401


def test_credentials_are_accepted(registry_password: str) -> None:
    assert get("/v2/", auth=(REGISTRY_USER, registry_password)).status_code == 200


def test_certificate_is_signed_by_the_site_ca_only() -> None:
    # The system trust store does not know the site CA: TLS verification must fail without it.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"{REGISTRY_URL}/v2/", timeout=10)


def test_dockerd_trusts_the_site_ca() -> None:
    trusted = Path(f"/etc/docker/certs.d/{REGISTRY}/ca.crt")
    assert trusted.read_bytes() == CA_FILE.read_bytes()


def test_anonymous_pull_is_refused(tmp_path: Path) -> None:
    # An empty DOCKER_CONFIG: no credentials for the registry.
    result = subprocess.run(
        ["docker", "--config", str(tmp_path), "pull", RAG_IMAGE],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "no basic auth credentials" in result.stderr or "unauthorized" in result.stderr


def test_wrong_password_login_is_refused(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            "docker",
            "--config",
            str(tmp_path),
            "login",
            REGISTRY,
            "-u",
            REGISTRY_USER,
            "--password-stdin",
        ],
        input="wrong-password-123\n",
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0, result.stdout
    # dockerd retries loopback registries over plain HTTP after the refused HTTPS attempt, so the
    # final message varies; what matters is that no credential was stored.
    config = tmp_path / "config.json"
    assert not config.exists() or REGISTRY not in config.read_text()


def test_push_pull_and_data_survive_a_restart(
    docker_client: docker.DockerClient, registry_password: str
) -> None:
    repository = f"{REGISTRY}/aidock/itest-probe"
    tag = uuid.uuid4().hex[:12]
    base = docker_client.images.get("aidock/python-base:bookworm-1")
    base.tag(repository, tag)
    try:
        for line in docker_client.images.push(repository, tag, stream=True, decode=True):
            assert "error" not in line, line
        registry = docker_client.containers.get(REGISTRY_CONTAINER)
        registry.restart(timeout=10)
        assert wait_healthy(registry) == "healthy"
        docker_client.images.remove(f"{repository}:{tag}")
        pulled = docker_client.images.pull(repository, tag)
        assert pulled.id == base.id
        # Delete is enabled: the manifest can be removed by digest.
        auth = (REGISTRY_USER, registry_password)
        digest = served_digest("aidock/itest-probe", tag, registry_password)
        deleted = requests.delete(
            f"{REGISTRY_URL}/v2/aidock/itest-probe/manifests/{digest}",
            auth=auth,
            verify=str(CA_FILE),
            timeout=10,
        )
        assert deleted.status_code == 202
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            docker_client.images.remove(f"{repository}:{tag}")


def test_garbage_collection_keeps_tagged_images(registry_password: str) -> None:
    result = subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "playbooks/registry_gc.yml"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:]
    auth = (REGISTRY_USER, registry_password)
    manifest = get("/v2/aidock/rag/manifests/0.1.0", auth=auth, headers={"Accept": MANIFEST_TYPES})
    assert manifest.status_code == 200
    body = manifest.json()
    if "manifests" in body:  # an index: follow the first image manifest
        digest = body["manifests"][0]["digest"]
        body = get(
            f"/v2/aidock/rag/manifests/{digest}", auth=auth, headers={"Accept": MANIFEST_TYPES}
        ).json()
    blobs = [body["config"]["digest"], *(layer["digest"] for layer in body["layers"])]
    for blob in blobs:
        head = requests.head(
            f"{REGISTRY_URL}/v2/aidock/rag/blobs/{blob}", auth=auth, verify=str(CA_FILE), timeout=10
        )
        assert head.status_code == 200, blob
    config = Path("/opt/aidock/registry/config.yml").read_text()
    assert "readonly:\n      enabled: false" in config
