"""Only images the site signed run (issue 12): the deployed agent against the site's registry.

Images are copied with skopeo (manifests byte for byte, so digests are kept) under names of
their own (``aidock/itest-sig-*``), signed with cosign where a case needs a signature, and asked
for through the agent's API. The refusals are 403 with the image and the reason, before any
pull: no container and no local image appear. The repositories are deleted at the end.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import (
    AGENT_CONTAINER,
    CA_FILE,
    REGISTRY,
    REGISTRY_USER,
    SECRETS,
    delete_repository,
)

AGENT_URL = "http://127.0.0.1:8700"
SITE_KEY = Path("/etc/aidock/signing/cosign.key")
SITE_PUB = Path("/etc/aidock/signing/cosign.pub")
KEY_PASSWORD = SECRETS / "signing-key.password"
CERT_DIR = f"/etc/docker/certs.d/{REGISTRY}"
SIGNED = "extraction"  # site images the deploy signed
OTHER = "categorization"
NAMES = ("itest-sig-unsigned", "itest-sig-otherkey", "itest-sig-moved")

pytestmark = pytest.mark.skipif(
    not SITE_PUB.exists(), reason="the site does not sign images (signing role not applied)"
)


@pytest.fixture(scope="module")
def token() -> str:
    return (SECRETS / "agent.token").read_text().strip()


def call(token: str, method: str, path: str, **kwargs: Any) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"}
    return requests.request(method, AGENT_URL + path, headers=headers, timeout=180, **kwargs)


def run(*argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "SSL_CERT_FILE": str(CA_FILE), **(env or {})},
        check=False,
    )
    assert done.returncode == 0, f"{argv}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    return done.stdout


def skopeo_copy(password: str, source: str, dest: str) -> None:
    """skopeo copy of ``aidock/<source>`` to ``aidock/<dest>`` inside the site registry."""
    creds = f"{REGISTRY_USER}:{password}"
    run(
        "skopeo", "copy", "--quiet", "--src-cert-dir", CERT_DIR, "--dest-cert-dir", CERT_DIR,
        "--src-creds", creds, "--dest-creds", creds,
        f"docker://{REGISTRY}/aidock/{source}", f"docker://{REGISTRY}/aidock/{dest}",
    )  # fmt: skip


def copy(password: str, source: str, dest: str) -> str:
    """``skopeo_copy``; the digest of ``dest`` afterwards."""
    skopeo_copy(password, source, dest)
    creds = f"{REGISTRY_USER}:{password}"
    inspect = run(
        "skopeo", "inspect", "--cert-dir", CERT_DIR, "--creds", creds,
        f"docker://{REGISTRY}/aidock/{dest}",
    )  # fmt: skip
    return str(json.loads(inspect)["Digest"])


def sign(key: Path, password: str, name: str, digest: str) -> None:
    """cosign sign by digest, key-based, nothing to a transparency log (as the signing role)."""
    run(
        "cosign", "sign", "--key", str(key), "--tlog-upload=false", "--yes",
        f"{REGISTRY}/aidock/{name}@{digest}",
        env={"COSIGN_PASSWORD": password},
    )  # fmt: skip


def refused(
    token: str, name: str, digest: str, docker_client: docker.DockerClient
) -> dict[str, Any]:
    """POST /v1/instances for ``name`` 1 (at ``digest``): a 403 that started and pulled nothing."""
    resp = call(token, "POST", "/v1/instances", json={"ai": name, "version": "1"})
    assert resp.status_code == 403, resp.text
    body: dict[str, Any] = resp.json()
    assert body["field"] == "version"
    assert f"aidock/{name}:1 ({digest})" in body["error"]
    assert docker_client.containers.list(all=True, filters={"label": f"ai.aidock.ai={name}"}) == []
    pulled = [
        i.id
        for i in docker_client.images.list(name=f"{REGISTRY}/aidock/{name}")
        if f"{REGISTRY}/aidock/{name}@{digest}" in i.attrs.get("RepoDigests", [])
    ]
    assert pulled == []
    return body


def agent_log_since(docker_client: docker.DockerClient, since: float) -> str:
    logs: bytes = docker_client.containers.get(AGENT_CONTAINER).logs(since=int(since) - 1)
    return logs.decode(errors="replace")


@pytest.fixture(scope="module")
def cleanup(registry_password: str, docker_client: docker.DockerClient) -> Iterator[None]:
    yield
    for name in NAMES:
        delete_repository(name, registry_password)
        repo = f"{REGISTRY}/aidock/{name}"
        for image in docker_client.images.list(name=repo):
            for ref in [*image.tags, *image.attrs.get("RepoDigests", [])]:
                if ref.startswith((f"{repo}:", f"{repo}@")):
                    docker_client.images.remove(ref)  # the name only: the bytes are a site AI's


def test_the_site_images_are_signed(token: str) -> None:
    for ai in (SIGNED, OTHER, "rag"):
        versions = call(token, "GET", f"/v1/ais/{ai}").json()["versions"]
        assert versions and all(v["signed"] is True for v in versions), versions


def test_an_unsigned_image_is_refused(
    token: str, registry_password: str, docker_client: docker.DockerClient, cleanup: None
) -> None:
    digest = copy(registry_password, f"{SIGNED}:0.1.0", "itest-sig-unsigned:1")
    body = refused(token, "itest-sig-unsigned", digest, docker_client)
    assert "unsigned" in body["error"], body
    versions = call(token, "GET", "/v1/ais/itest-sig-unsigned").json()["versions"]
    assert [v["signed"] for v in versions] == [False]


def test_an_image_signed_by_another_key_is_refused(
    token: str,
    registry_password: str,
    docker_client: docker.DockerClient,
    tmp_path: Path,
    cleanup: None,
) -> None:
    digest = copy(registry_password, f"{SIGNED}:0.1.0", "itest-sig-otherkey:1")
    run(
        "cosign", "generate-key-pair", "--output-key-prefix", str(tmp_path / "other"),
        env={"COSIGN_PASSWORD": "other"},
    )  # fmt: skip
    sign(tmp_path / "other.key", "other", "itest-sig-otherkey", digest)
    body = refused(token, "itest-sig-otherkey", digest, docker_client)
    assert "signed by another key" in body["error"], body


def test_a_moved_tag_is_refused_and_the_log_names_both_digests(
    token: str, registry_password: str, docker_client: docker.DockerClient, cleanup: None
) -> None:
    name = "itest-sig-moved"
    first = copy(registry_password, f"{SIGNED}:0.1.0", f"{name}:1")
    sign(SITE_KEY, KEY_PASSWORD.read_text().strip(), name, first)

    started = call(token, "POST", "/v1/instances", json={"ai": name, "version": "1"})
    assert started.status_code == 201, started.text
    assert started.json()["digest"] == first
    assert call(token, "DELETE", f"/v1/instances/{started.json()['id']}").status_code == 204

    # The tag now names other bytes, which nobody signed under this name.
    since = time.time()
    second = copy(registry_password, f"{OTHER}:0.1.0", f"{name}:1")
    assert second != first
    body = refused(token, name, second, docker_client)
    assert "unsigned" in body["error"] and first in body["error"] and second in body["error"]
    log = agent_log_since(docker_client, since)
    assert any(first in line and second in line for line in log.splitlines()), log[-3000:]

    # A signature of the first digest copied to where the second's would be: not for it.
    sig = f"{name}:sha256-"
    skopeo_copy(registry_password, f"{sig}{first[7:]}.sig", f"{sig}{second[7:]}.sig")
    body = refused(token, name, second, docker_client)
    assert "signature for another digest" in body["error"], body
    assert f"it signs {first}, not {second}" in body["error"], body
