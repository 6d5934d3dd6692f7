"""The registry is the AI catalog: the deployed agent reads it over the registry API.

Images are built here (tiny ones, FROM our base), pushed to the real registry and requested
from the deployed agent at once, without restarting it: one without labels and one with a bad
label are listed as unusable and refused 422 naming the label; an unknown version is 404
listing the versions; with the registry stopped the agent answers 503 and stays healthy, and
once the registry is back it works again. Every pushed tag is deleted at the end.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import (
    AGENT_CONTAINER,
    REGISTRY,
    REGISTRY_CONTAINER,
    REPO,
    aidock,
    delete_repository,
    wait_healthy,
)

AGENT_URL = "http://127.0.0.1:8700"
BASE = "aidock/python-base:bookworm-1"
GOOD_LABELS = {
    "ai.aidock.manifest": "v1",
    "ai.aidock.schema-version": "categorization/v1",
    "ai.aidock.port": "8080",
    "ai.aidock.ready-path": "/readyz",
    "ai.aidock.memory": "64m",
    "ai.aidock.cpus": "0.5",
    "ai.aidock.pids": "32",
}


@pytest.fixture(scope="module")
def token() -> str:
    return (REPO / ".secrets" / "agent.token").read_text().strip()


def call(token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    # Longer than the site agent's start timeout (agent_start_timeout, 180 s): a POST of an
    # instance answers once the AI is ready, and the test checks the agent's answer.
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, AGENT_URL + path, headers=headers, timeout=240, **kwargs)


def build_and_push(
    client: docker.DockerClient, tmp_path: Path, name: str, tag: str, labels: dict[str, str]
) -> str:
    """A tiny image FROM our base with ``labels``, pushed as <registry>/aidock/<name>:<tag>."""
    context = tmp_path / f"{name}-{tag}"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {BASE}\nUSER 10001\n")
    ref = f"{REGISTRY}/aidock/{name}"
    client.images.build(path=str(context), tag=f"{ref}:{tag}", labels=labels, rm=True)
    for line in client.images.push(ref, tag=tag, stream=True, decode=True):
        assert "error" not in line, line
    return f"{ref}:{tag}"


@pytest.fixture(scope="module")
def pushed(
    docker_client: docker.DockerClient,
    tmp_path_factory: pytest.TempPathFactory,
    registry_password: str,
) -> Iterator[dict[str, str]]:
    tmp = tmp_path_factory.mktemp("catalog")
    bad_port = {**GOOD_LABELS, "ai.aidock.port": "http"}
    images = {
        "nolabels": build_and_push(docker_client, tmp, "itest-nolabels", "1", {}),
        "badport": build_and_push(docker_client, tmp, "itest-badport", "1", bad_port),
        "good1": build_and_push(docker_client, tmp, "itest-versions", "1.0", GOOD_LABELS),
        "good2": build_and_push(docker_client, tmp, "itest-versions", "2.0", GOOD_LABELS),
    }
    yield images
    for name in ("itest-nolabels", "itest-badport", "itest-versions"):
        delete_repository(name, registry_password)
    for ref in images.values():
        with contextlib.suppress(docker.errors.NotFound):
            docker_client.images.remove(ref, force=True)


def test_a_fresh_push_is_listed_without_an_agent_restart(
    token: str, pushed: dict[str, str], docker_client: docker.DockerClient
) -> None:
    started = docker_client.containers.get(AGENT_CONTAINER).attrs["State"]["StartedAt"]
    deadline = time.monotonic() + 30  # the listing is kept agent_catalog_ttl (10 s) at most
    names: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = call(token, "GET", "/v1/ais")
        assert resp.status_code == 200, resp.text
        names = {ai["name"]: ai for ai in resp.json()["ais"]}
        if {"itest-nolabels", "itest-badport", "itest-versions"} <= set(names):
            break
        time.sleep(1)
    assert {"rag", "extraction", "categorization"} <= set(names)
    assert "agent" not in names  # the agent image lives outside the AI namespace
    versions = {v["version"]: v for v in names["itest-versions"]["versions"]}
    assert set(versions) == {"1.0", "2.0"}
    for v in versions.values():
        assert v["usable"] is True
        assert v["schema_version"] == "categorization/v1"
        assert v["digest"].startswith("sha256:") and v["size"] > 1_000_000 and v["created"]
    rag = names["rag"]["versions"][0]
    assert (rag["usable"], rag["schema_version"], rag["port"]) == (True, "rag/v1", 5001)
    unusable = names["itest-nolabels"]["versions"][0]
    assert (unusable["usable"], unusable["label"]) == (False, "ai.aidock.manifest")
    assert names["itest-badport"]["versions"][0]["label"] == "ai.aidock.port"
    after = docker_client.containers.get(AGENT_CONTAINER).attrs["State"]["StartedAt"]
    assert after == started


@pytest.mark.parametrize(
    ("ai", "label"), [("itest-nolabels", "ai.aidock.manifest"), ("itest-badport", "ai.aidock.port")]
)
def test_an_image_without_a_valid_manifest_is_refused_naming_the_label(
    token: str, pushed: dict[str, str], docker_client: docker.DockerClient, ai: str, label: str
) -> None:
    resp = call(token, "POST", "/v1/instances", json={"ai": ai, "version": "1"})
    assert resp.status_code == 422, resp.text
    assert f"label {label}" in resp.json()["error"]
    assert docker_client.containers.list(all=True, filters={"label": f"ai.aidock.ai={ai}"}) == []


def test_unknown_version_lists_the_versions(token: str, pushed: dict[str, str]) -> None:
    resp = call(token, "POST", "/v1/instances", json={"ai": "itest-versions", "version": "9.9"})
    assert resp.status_code == 404
    assert resp.json()["field"] == "version"
    assert "versions: 1.0, 2.0" in resp.json()["error"]
    unknown = call(token, "POST", "/v1/instances", json={"ai": "itest-nosuch", "version": "1"})
    assert unknown.status_code == 404 and "itest-versions" in unknown.json()["error"]


def test_cli_prints_the_catalog(token: str, pushed: dict[str, str]) -> None:
    token_file = REPO / ".secrets" / "agent.token"
    done = aidock("agent", "ais", "--token-file", str(token_file))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:4] == ["AI", "VERSION", "SCHEMA", "SIZE"]
    row = next(line for line in lines if line.startswith("itest-badport "))
    assert "unusable: label ai.aidock.port" in row
    one = aidock("agent", "ais", "itest-versions", "--token-file", str(token_file), "--json")
    assert one.returncode == 0 and '"version": "2.0"' in one.stdout


def test_registry_down_is_503_and_back_without_an_agent_restart(
    token: str, pushed: dict[str, str], docker_client: docker.DockerClient
) -> None:
    registry = docker_client.containers.get(REGISTRY_CONTAINER)
    registry.stop(timeout=10)
    try:
        for path in ("/v1/ais/itest-versions", "/v1/ais"):
            resp: requests.Response | None = None
            deadline = time.monotonic() + 30  # until the cached listing expires
            while time.monotonic() < deadline:
                resp = call(token, "GET", path)
                if resp.status_code != 200:
                    break
                time.sleep(1)
            assert resp is not None and resp.status_code == 503, resp.text if resp else None
            assert "registry" in resp.json()["error"] and "not reachable" in resp.json()["error"]
        start = call(token, "POST", "/v1/instances", json={"ai": "rag", "version": "0.1.0"})
        assert start.status_code == 503 and "not reachable" in start.json()["error"]
        health = requests.get(AGENT_URL + "/healthz", timeout=10)
        assert health.status_code == 200
        assert docker_client.containers.get(AGENT_CONTAINER).status == "running"
    finally:
        registry.start()
        assert wait_healthy(registry) == "healthy"
    resp = call(token, "GET", "/v1/ais/itest-versions")
    assert resp.status_code == 200 and len(resp.json()["versions"]) == 2


def test_catalog_reads_nothing_from_dockerd_and_pulls_nothing(
    token: str, pushed: dict[str, str], docker_client: docker.DockerClient
) -> None:
    """Listing reads labels from the registry: an image that is not local is listed too."""
    docker_client.images.remove(pushed["good2"], force=True)
    resp = call(token, "GET", "/v1/ais/itest-versions")
    assert resp.status_code == 200
    assert {v["version"] for v in resp.json()["versions"]} == {"1.0", "2.0"}
    with pytest.raises(docker.errors.ImageNotFound):
        docker_client.images.get(pushed["good2"])
