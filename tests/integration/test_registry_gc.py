"""Registry garbage collection never costs a push (issue 15).

Runs against a throwaway registry that the registry role deploys on localhost:5099 under other
names (tests/integration/registry_gctest.yml); the site registry on localhost:5000 is not touched.
Each test first leaves garbage behind (a pushed image whose manifest is deleted), so collection
really restarts the registry read-only, deletes and restarts it read-write.

- A 200 MB push with collection started one second later: the push succeeds, the garbage is gone,
  and every tag inspects (skopeo) and pulls (docker) with every blob present.
- A push started while the registry is read-only: its layer uploads are refused, Docker retries
  them, and the push succeeds once the registry is read-write again.
- A blob upload started after the registry was found quiet but before it is read-only: collection
  switches back without deleting anything and waits for quiet again.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from conftest import REPO

REGISTRY = "localhost:5099"
REGISTRY_URL = f"https://{REGISTRY}"
CA_FILE = Path("/etc/aidock/pki-gctest/ca.crt")
CERT_DIR = Path(f"/etc/docker/certs.d/{REGISTRY}")
CONFIG = Path("/opt/aidock/registry-gctest/config.yml")
USER = "gctest"
PLAYBOOK = REPO / "tests/integration/registry_gctest.yml"
BASE_IMAGE = "aidock/python-base:bookworm-1"
# Nothing of the site's is used or touched: `make test` runs this module beside the other
# integration tests, in a lane of its own (its three races take minutes of waiting on pushes).
pytestmark = pytest.mark.isolated
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
    ]
)


def run(*argv: str, timeout: float = 900, **kwargs) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )


@dataclass
class Throwaway:
    """The throwaway registry, its credentials and a Docker CLI configuration logged in to it."""

    password_file: Path
    docker_config: Path
    workdir: Path
    images: list[str] = field(default_factory=list)

    @property
    def auth(self) -> tuple[str, str]:
        return (USER, self.password_file.read_text().strip())

    def playbook_argv(self, state: str) -> list[str]:
        return [
            str(REPO / ".venv/bin/ansible-playbook"),
            str(PLAYBOOK),
            "-e",
            f"gctest_state={state}",
            "-e",
            f"gctest_password_file={self.password_file}",
        ]

    def playbook(self, state: str) -> subprocess.CompletedProcess[str]:
        return run(*self.playbook_argv(state), cwd=REPO, env=ansible_env())

    def start_gc(self) -> subprocess.Popen[str]:
        return subprocess.Popen(
            self.playbook_argv("gc"),
            cwd=REPO,
            env=ansible_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def docker(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        return run("docker", "--config", str(self.docker_config), *args, timeout=timeout)

    def start_push(self, image: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            ["docker", "--config", str(self.docker_config), "push", image],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def build(self, repository: str, megabytes: int) -> str:
        """Build an image on the base image with one layer of random bytes; return its name."""
        nonce = secrets.token_hex(8)
        context = self.workdir / f"build-{nonce}"
        context.mkdir()
        (context / "Dockerfile").write_text(
            f"FROM {BASE_IMAGE}\n"
            f"RUN echo {nonce} > /tmp/nonce && head -c {megabytes}M /dev/urandom > /tmp/payload\n"
        )
        image = f"{REGISTRY}/gctest/{repository}:{nonce}"
        result = run("docker", "build", "-q", "-t", image, str(context))
        assert result.returncode == 0, result.stderr
        self.images.append(image)
        return image

    def get(self, path: str, timeout: float = 10, **kwargs) -> requests.Response:
        return requests.get(
            f"{REGISTRY_URL}{path}", auth=self.auth, verify=str(CA_FILE), timeout=timeout, **kwargs
        )

    def manifest(self, repository: str, reference: str) -> requests.Response:
        return self.get(
            f"/v2/{repository}/manifests/{reference}", headers={"Accept": MANIFEST_TYPES}
        )

    def blob_status(self, repository: str, digest: str) -> int:
        return requests.head(
            f"{REGISTRY_URL}/v2/{repository}/blobs/{digest}",
            auth=self.auth,
            verify=str(CA_FILE),
            timeout=10,
        ).status_code

    def leave_garbage(self) -> tuple[str, str]:
        """Push a small image and delete its manifest; return (repository, its config digest)."""
        image = self.build("garbage", 1)
        pushed = self.docker("push", image)
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        repository, tag = image.removeprefix(f"{REGISTRY}/").split(":")
        manifest = self.manifest(repository, tag)
        assert manifest.status_code == 200, manifest.text
        deleted = requests.delete(
            f"{REGISTRY_URL}/v2/{repository}/manifests/{manifest.headers['Docker-Content-Digest']}",
            auth=self.auth,
            verify=str(CA_FILE),
            timeout=10,
        )
        assert deleted.status_code == 202, deleted.text
        return repository, manifest.json()["config"]["digest"]


def ansible_env() -> dict[str, str]:
    return {**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}


class Availability(threading.Thread):
    """Poll /v2/ every 100 ms; remember the longest stretch without an answer."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.stop = threading.Event()
        self.longest_outage = 0.0

    def run(self) -> None:
        down_since: float | None = None
        while not self.stop.is_set():
            now = time.monotonic()
            try:
                requests.get(f"{REGISTRY_URL}/v2/", verify=str(CA_FILE), timeout=1)
                up = True
            except requests.RequestException:
                up = False
            if up and down_since is not None:
                self.longest_outage = max(self.longest_outage, now - down_since)
                down_since = None
            elif not up and down_since is None:
                down_since = now
            time.sleep(0.1)


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Throwaway]:
    workdir = tmp_path_factory.mktemp("registry-gc")
    password_file = workdir / "password"
    password_file.write_text(secrets.token_urlsafe(24))
    password_file.chmod(0o600)
    docker_config = workdir / "docker"
    docker_config.mkdir()
    throwaway = Throwaway(password_file, docker_config, workdir)
    try:
        deployed = throwaway.playbook("present")
        assert deployed.returncode == 0, deployed.stdout[-4000:] + deployed.stderr[-2000:]
        login = run(
            "docker",
            "--config",
            str(docker_config),
            "login",
            REGISTRY,
            "-u",
            USER,
            "--password-stdin",
            input=password_file.read_text(),
            timeout=60,
        )
        assert login.returncode == 0, login.stderr
        yield throwaway
    finally:
        removed = throwaway.playbook("absent")
        for image in throwaway.images:
            run("docker", "image", "rm", "-f", image, timeout=120)
        assert removed.returncode == 0, removed.stdout[-4000:]


def gc_report(output: str) -> str:
    """The report line of the registry role's garbage collection from a playbook's output."""
    match = re.search(r"Report what garbage collection did.*?(\{.*?\}|msg:.*?)\n\n", output, re.S)
    return match.group(0) if match else output[-2000:]


def assert_every_tag_inspects_and_pulls(registry: Throwaway) -> list[str]:
    """skopeo inspect and docker pull every tag of the registry; HEAD every blob they use."""
    catalog = registry.get("/v2/_catalog").json()["repositories"]
    checked = []
    for repository in catalog:
        tags = registry.get(f"/v2/{repository}/tags/list").json().get("tags") or []
        for tag in tags:
            reference = f"{REGISTRY}/{repository}:{tag}"
            inspected = run(
                "skopeo",
                "inspect",
                "--cert-dir",
                str(CERT_DIR),
                "--creds",
                ":".join(registry.auth),
                f"docker://{reference}",
                timeout=120,
            )
            assert inspected.returncode == 0, inspected.stderr
            manifest = registry.manifest(repository, tag)
            assert manifest.status_code == 200, manifest.text
            body = manifest.json()
            blobs = [body["config"]["digest"], *(layer["digest"] for layer in body["layers"])]
            assert json.loads(inspected.stdout)["Layers"] == blobs[1:]
            missing = [b for b in blobs if registry.blob_status(repository, b) != 200]
            assert not missing, f"{reference}: blobs missing after GC: {missing}"
            run("docker", "image", "rm", reference, timeout=120)
            pulled = registry.docker("pull", reference)
            assert pulled.returncode == 0, pulled.stdout + pulled.stderr
            checked.append(reference)
    return checked


def test_push_racing_gc_completes_and_keeps_every_layer(registry: Throwaway) -> None:
    garbage_repository, garbage_config = registry.leave_garbage()
    image = registry.build("race", 200)
    availability = Availability()
    availability.start()
    push = registry.start_push(image)
    time.sleep(1)
    gc = registry.start_gc()
    push_output, _ = push.communicate(timeout=600)
    gc_output, _ = gc.communicate(timeout=1200)
    availability.stop.set()
    availability.join()
    print(gc_report(gc_output))
    print(f"longest outage seen by a /v2/ poller: {availability.longest_outage:.1f} s")
    assert push.returncode == 0, push_output
    assert gc.returncode == 0, gc_output[-5000:]
    assert availability.longest_outage < 10, "a restart left the registry unreachable too long"
    # Collection did run (the garbage is gone) and waited for the push (its blobs are all there).
    assert registry.blob_status(garbage_repository, garbage_config) == 404
    checked = assert_every_tag_inspects_and_pulls(registry)
    assert image in checked


def test_push_during_read_only_is_retried_and_succeeds(registry: Throwaway) -> None:
    registry.leave_garbage()
    image = registry.build("retry", 20)
    gc = registry.start_gc()
    # Wait until the registry answers read-only (GETs only: an upload would delay the collection).
    deadline = time.monotonic() + 600
    maintenance = None
    while maintenance is None and time.monotonic() < deadline and gc.poll() is None:
        with contextlib.suppress(requests.RequestException):
            maintenance = registry.get("/v2/", timeout=1).headers.get("X-Registry-Maintenance")
        time.sleep(0.05)
    assert maintenance == "registry in maintenance, retry after GC", "never saw it read-only"
    push = registry.start_push(image)
    push_output, _ = push.communicate(timeout=600)
    gc_output, _ = gc.communicate(timeout=1200)
    print(gc_report(gc_output))
    print(push_output)
    assert gc.returncode == 0, gc_output[-5000:]
    assert push.returncode == 0, push_output
    assert "Retrying in" in push_output
    checked = assert_every_tag_inspects_and_pulls(registry)
    assert image in checked


def test_upload_slipping_in_makes_gc_switch_back_and_wait_again(registry: Throwaway) -> None:
    registry.leave_garbage()
    gc = registry.start_gc()
    # The configuration turns read-only a moment before the registry restarts on it: start a blob
    # upload in that moment, after the registry was found quiet, as a push's next layer would.
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and gc.poll() is None:
        if "X-Registry-Maintenance" in CONFIG.read_text():
            break
        time.sleep(0.01)
    started = requests.post(
        f"{REGISTRY_URL}/v2/gctest/slip/blobs/uploads/",
        auth=registry.auth,
        verify=str(CA_FILE),
        timeout=5,
    )
    assert started.status_code == 202, f"upload not in the window: {started.status_code}"
    gc_output, _ = gc.communicate(timeout=1200)
    print(gc_report(gc_output))
    assert gc.returncode == 0, gc_output[-5000:]
    assert "A push wrote to the storage at" in gc_output
    assert re.search(r"attempt: 2\b", gc_output), gc_report(gc_output)
    assert_every_tag_inspects_and_pulls(registry)
