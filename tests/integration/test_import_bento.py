"""Import a user's .bento archive as a custom AI, for real: train, import, deploy, remove.

One small categorization AI is trained and saved as a Bento (named ``categorization`` like the
site's own AI) at a path ending in ``.bento``, then, under another name:

- ``aidock bento import`` builds and pushes its image to the site registry and starts nothing;
- ``aidock bento import --deploy`` also runs its stack, healthy and hardened, whose ``/info``
  names the name it was imported under and whose answers validate against the schema;
- a second tag comes and goes with ``aidock bento remove --version`` while the stack stays;
- ``aidock bento remove`` leaves no stack directory, no container, no image and no tag, and
  removing it again changes nothing.

Damaged archives, a name clash and port clashes each make the playbook fail with the reason,
before anything is built or started. Nothing of it is written into the git checkout.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml
from bench.feedback import TOLERATED, changed_tasks
from conftest import (
    CA_FILE,
    MANIFEST_TYPES,
    REGISTRY,
    REGISTRY_URL,
    REGISTRY_USER,
    REPO,
    served_digest,
    wait_healthy,
)

from aidock.ais.corpus import generate_one
from aidock.bento.archive import LABELS, LOCK_MEMBER
from aidock.schemas.bento import CategorizationResponse

AI_NAME = "invoice-sorter"
EXTRA_TAG = "extra-1"  # a second version, removed on its own
ARTIFACT_TAG = re.compile(r"^sha256-([0-9a-f]{64})\.(?:sig|att|sbom)$")
SIGNS = Path("/etc/aidock/signing/cosign.pub").is_file()  # the site signs what it imports
PORT = 3013
FREE_PORT = 3014  # the bad archives' port: PORT is taken by the imported AI meanwhile
URL = f"http://127.0.0.1:{PORT}"
PROJECT = f"aidock-{AI_NAME}"
CONTAINER = f"{PROJECT}-{AI_NAME}-1"
REPOSITORY = f"{REGISTRY}/aidock/{AI_NAME}"
PLAYBOOK = "playbooks/import_bento.yml"
REMOVE_PLAYBOOK = "playbooks/remove_ai.yml"
STACKS_DIR = Path("/opt/aidock/stacks")
COMPOSE_DIR_LABEL = "com.docker.compose.project.working_dir"
BUILD_DIR = Path("/var/cache/aidock/ai_image")
IMPORTS_DIR = REPO / ".cache" / "bento" / "imports"
DOCUMENT = generate_one(seed=99, index=1, category="invoice")
ANSIBLE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")}


def run(argv: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=1800, check=False
    )


def aidock(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The aidock CLI of this venv, with time for an image build."""
    cli = Path(os.environ.get("VIRTUAL_ENV", REPO / ".venv")) / "bin" / "aidock"
    if not cli.exists():
        cli = REPO / ".venv" / "bin" / "aidock"
    return run([str(cli), *args], env={**os.environ, **ANSIBLE_ENV, **(env or {})})


def playbook(play: str, *extra: str) -> subprocess.CompletedProcess[str]:
    ansible = str(REPO / ".venv/bin/ansible-playbook")
    return run([ansible, "-i", "inventories/local", play, *extra], env=ANSIBLE_ENV)


def recap(output: str) -> dict[str, int]:
    line = re.search(r"^localhost\s*:\s*(.*)$", output, re.MULTILINE)
    assert line, output[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def all_registry_tags(password: str) -> list[str]:
    """Every tag of the imported AI in the registry ([] when it has none or never had any)."""
    answer = requests.get(
        f"{REGISTRY_URL}/v2/aidock/{AI_NAME}/tags/list",
        auth=(REGISTRY_USER, password),
        verify=str(CA_FILE),
        timeout=30,
    )
    if answer.status_code == 404:
        return []
    answer.raise_for_status()
    return sorted(answer.json().get("tags") or [])


def registry_tags(password: str) -> list[str]:
    """The version tags (not cosign's signature/attestation tags beside them)."""
    return [t for t in all_registry_tags(password) if not ARTIFACT_TAG.match(t)]


def signed_digests(password: str) -> set[str]:
    """Digests with a cosign signature or attestation tag in the AI's repository."""
    found = (ARTIFACT_TAG.match(t) for t in all_registry_tags(password))
    return {f"sha256:{m.group(1)}" for m in found if m}


def orphan_signature(password: str) -> None:
    """What pushing the AI again under its tag leaves: a signature tag of a digest no version
    names. Made from one of its signatures, its manifest changed (an annotation) so that it is
    a manifest of its own, under the artifact tag of a digest that is not in the registry."""
    auth = (REGISTRY_USER, password)
    base = f"{REGISTRY_URL}/v2/aidock/{AI_NAME}/manifests"
    signature = next(t for t in all_registry_tags(password) if t.endswith(".sig"))
    got = requests.get(
        f"{base}/{signature}",
        auth=auth,
        verify=str(CA_FILE),
        headers={"Accept": MANIFEST_TYPES},
        timeout=30,
    )
    got.raise_for_status()
    manifest = got.json()
    manifest.setdefault("annotations", {})["org.aidock.test"] = "orphan"
    orphan = f"sha256-{'0' * 64}.sig"
    put = requests.put(
        f"{base}/{orphan}",
        auth=auth,
        verify=str(CA_FILE),
        headers={"Content-Type": got.headers["Content-Type"]},
        data=json.dumps(manifest),
        timeout=30,
    )
    assert put.status_code == 201, put.text
    assert orphan in all_registry_tags(password)


def tag_digest(password: str, tag: str) -> str:
    """The digest the registry serves for the imported AI's ``tag``."""
    return served_digest(f"aidock/{AI_NAME}", tag, password)


def site_stack_containers(client: docker.DockerClient) -> dict[str, str]:
    """Name to id of the site's stack containers (under STACKS_DIR, and the registry), stopped
    ones too. Not every container: make test's other lanes create and remove theirs beside
    (molecule test hosts, the throwaway registry of test_registry_gc)."""
    return {
        c.name: c.id
        for c in client.containers.list(all=True, filters={"label": COMPOSE_DIR_LABEL})
        if Path(c.labels[COMPOSE_DIR_LABEL]).parent == STACKS_DIR
        or c.labels.get("com.docker.compose.project") == "aidock-registry"
    }


def ai_containers(client: docker.DockerClient) -> list[str]:
    """Containers of the imported AI: its stack's, or any running one of its images."""
    return sorted(
        c.name
        for c in client.containers.list(all=True)
        if c.labels.get("com.docker.compose.project") == PROJECT
        or c.attrs["Config"]["Image"].startswith(f"{REPOSITORY}:")
    )


def git_status() -> set[str]:
    lines = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.splitlines()  # fmt: skip
    return set(lines)


@pytest.fixture(scope="module")
def checkout_before() -> set[str]:
    """`git status` before anything is imported (other work in a shared checkout may show)."""
    return git_status()


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory, checkout_before: set[str]) -> Path:
    """A small categorization Bento, exported to a path ending in .bento."""
    out = tmp_path_factory.mktemp("bento")
    target = out / "nested" / "sorter.bento"
    result = aidock(
        "bento", "build", "--ai", "categorization", "--train-docs", "200",
        "--output", str(target), "--json",
        env={"BENTOML_HOME": str(out / "store"), "BENTOML_DO_NOT_TRACK": "true"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout)["archive"] == str(target)
    return target


@pytest.fixture(scope="module")
def report(archive: Path) -> dict[str, Any]:
    result = aidock("bento", "validate", str(archive), "--name", AI_NAME, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def pushed(archive: Path, registry_password: str) -> Iterator[subprocess.CompletedProcess[str]]:
    """`aidock bento import` without --deploy: image built and pushed, nothing started."""
    try:
        yield aidock("bento", "import", str(archive), "--name", AI_NAME, "--json")
    finally:  # whatever a failed test left: the removal under test, then by hand
        aidock("bento", "remove", AI_NAME)


@pytest.fixture(scope="module")
def deployed(
    pushed: subprocess.CompletedProcess[str], archive: Path
) -> subprocess.CompletedProcess[str]:
    """The same archive imported again with --deploy on PORT."""
    assert pushed.returncode == 0, pushed.stderr[-4000:]
    return aidock(
        "bento", "import", str(archive), "--deploy", "--name", AI_NAME, "--port", str(PORT)
    )


# --- Import: pushed, not started -------------------------------------------------------------


def test_save_bento_writes_the_archive_named(archive: Path) -> None:
    assert archive.is_file()
    assert [p.name for p in archive.parent.iterdir()] == ["sorter.bento"]


def test_import_pushes_the_image(
    pushed: subprocess.CompletedProcess[str], report: dict[str, Any], registry_password: str
) -> None:
    assert pushed.returncode == 0, pushed.stderr[-6000:]
    assert PLAYBOOK in pushed.stderr  # the playbook's output goes to stderr
    result = json.loads(pushed.stdout)
    tag = report["image_tag"]
    assert result["image"] == f"{REPOSITORY}:{tag}"
    assert result["deployed"] is False
    assert result["bento"] == report["bento"]
    assert f"--ai {AI_NAME} --version {tag}" in result["agent_request"]["worker"]
    assert registry_tags(registry_password) == [tag]
    signed = {tag_digest(registry_password, tag)} if SIGNS else set()
    assert signed_digests(registry_password) == signed


def test_import_starts_nothing(
    pushed: subprocess.CompletedProcess[str], docker_client: docker.DockerClient
) -> None:
    assert pushed.returncode == 0, pushed.stderr[-4000:]
    assert ai_containers(docker_client) == []
    assert not (STACKS_DIR / AI_NAME).exists()
    assert "TASK [ai_stack" not in pushed.stderr


# --- Import --deploy: a healthy, hardened stack ----------------------------------------------


def test_deploy_says_what_it_pushed_and_where_it_runs(
    deployed: subprocess.CompletedProcess[str], report: dict[str, Any]
) -> None:
    assert deployed.returncode == 0, deployed.stderr[-6000:]
    lines = deployed.stdout.splitlines()
    assert lines[0] == f"pushed: {REPOSITORY}:{report['image_tag']}"
    assert f"stack: {URL} (compose project {STACKS_DIR / AI_NAME})" in lines
    assert any(f"worker run --ai {AI_NAME} --version {report['image_tag']}" in x for x in lines)


def test_stack_is_healthy_and_hardened(
    deployed: subprocess.CompletedProcess[str],
    docker_client: docker.DockerClient,
    report: dict[str, Any],
) -> None:
    container = docker_client.containers.get(CONTAINER)
    assert wait_healthy(container) == "healthy"
    assert container.image.labels["ai.aidock.schema-version"] == "categorization/v1"
    assert container.image.labels["ai.aidock.bento"] == report["bento"]
    config = container.attrs["HostConfig"]
    assert config["ReadonlyRootfs"] is True
    assert config["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in config["SecurityOpt"]
    assert config["Memory"] > 0
    assert config["PidsLimit"] > 0
    assert container.attrs["Config"]["User"] == "10001:10001"
    assert config["PortBindings"]["3000/tcp"] == [{"HostIp": "127.0.0.1", "HostPort": str(PORT)}]


def test_compose_project_is_on_the_host_not_in_the_checkout(
    deployed: subprocess.CompletedProcess[str],
    report: dict[str, Any],
    registry_password: str,
) -> None:
    project = STACKS_DIR / AI_NAME
    compose = yaml.safe_load((project / "compose.yaml").read_text())
    service = compose["services"][AI_NAME]
    assert compose["name"] == PROJECT
    # By the digest the import's push recorded, which the registry serves for the tag.
    digest = tag_digest(registry_password, report["image_tag"])
    assert service["image"].endswith(
        f"/aidock/{AI_NAME}:${{AI_VERSION:-{report['image_tag']}}}@${{AI_IMAGE_DIGEST:-{digest}}}"
    )
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "healthcheck" in service
    assert (project / "README.md").is_file()
    env = (project / ".env").read_text()
    assert f"AI_VERSION={report['image_tag']}" in env
    assert f"AI_IMAGE_DIGEST={digest}" in env
    assert f"AI_PORT={PORT}" in env
    assert not (REPO / "compose" / AI_NAME).exists()


def test_endpoint_answers_in_its_schema_under_its_name(
    deployed: subprocess.CompletedProcess[str], report: dict[str, Any]
) -> None:
    info = requests.get(f"{URL}/info", timeout=10).json()
    assert info["name"] == AI_NAME  # the name it was imported under, not the Bento's
    assert info["bento_tag"] == report["bento"]
    assert info["schema_version"] == "categorization/v1"
    response = requests.post(f"{URL}/categorize", json={"text": DOCUMENT.text}, timeout=30)
    assert response.status_code == 200, response.text
    answer = CategorizationResponse.model_validate(response.json())
    assert answer.category == "invoice"
    bad = requests.post(f"{URL}/categorize", json={"text": "   "}, timeout=30)
    assert 400 <= bad.status_code < 500
    assert bad.json()["field"] == "text"


def test_reimport_changes_nothing(
    deployed: subprocess.CompletedProcess[str], archive: Path, docker_client: docker.DockerClient
) -> None:
    def dangling() -> list[str]:
        filters = {"dangling": True, "label": "ai.aidock.build-hash"}
        return sorted(image.id for image in docker_client.images.list(filters=filters))

    before = dangling()
    result = playbook(
        PLAYBOOK, "-e", f"bento_archive={archive}", "-e", f"bento_ai_name={AI_NAME}",
        "-e", "bento_deploy=true", "-e", f"bento_port={PORT}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    changed = changed_tasks(result.stdout)
    # The import itself changes nothing; the ai_stack prune of untagged aidock images (the one
    # change bench/feedback.py tolerates too) only when it found what others left before.
    assert changed in ([], list(TOLERATED)), result.stdout[-6000:]
    assert changed == [] or before, (before, result.stdout[-6000:])


# --- Bad archives: the playbook fails before anything is built or started --------------------


def copy_archive(
    source: Path,
    dest: Path,
    drop: tuple[str, ...] = (),
    replace: dict[str, bytes] | None = None,
) -> Path:
    """A copy of ``source`` without the members ``drop`` and with ``replace``d contents."""
    replace = replace or {}
    with tarfile.open(source) as src, tarfile.open(dest, "w") as out:
        for member in src.getmembers():
            name = member.name.removeprefix("./")
            if name in drop:
                continue
            if name in replace:
                data = replace[name]
                member = tarfile.TarInfo(member.name)
                member.size = len(data)
                out.addfile(member, io.BytesIO(data))
            else:
                out.addfile(member, src.extractfile(member) if member.isfile() else None)
    return dest


def bento_yaml(source: Path) -> dict[str, Any]:
    with tarfile.open(source) as tar:
        return yaml.safe_load(tar.extractfile("./bento.yaml").read())  # type: ignore[union-attr]


def corrupt(source: Path, dest: Path) -> Path:
    dest.write_bytes(b"this is not a tar archive\n" * 100)
    return dest


def without_model(source: Path, dest: Path) -> Path:
    model = bento_yaml(source)["labels"][LABELS["model_file"]]
    return copy_archive(source, dest, drop=(model,))


def unknown_schema(source: Path, dest: Path) -> Path:
    info = bento_yaml(source)
    info["labels"][LABELS["schema_version"]] = "categorization/v9"
    return copy_archive(source, dest, replace={"bento.yaml": yaml.safe_dump(info).encode()})


def unresolvable_lock(source: Path, dest: Path) -> Path:
    with tarfile.open(source) as tar:
        lock = tar.extractfile(f"./{LOCK_MEMBER}").read()  # type: ignore[union-attr]
    lock += b"left-pad==9.9.9 \\\n    --hash=sha256:" + b"0" * 64 + b"\n"
    info = bento_yaml(source)
    info["labels"][LABELS["lock_sha256"]] = hashlib.sha256(lock).hexdigest()
    return copy_archive(
        source, dest, replace={LOCK_MEMBER: lock, "bento.yaml": yaml.safe_dump(info).encode()}
    )


def unchanged(source: Path, dest: Path) -> Path:
    return source


@pytest.mark.parametrize(
    ("make", "name", "port", "reason"),
    [
        (corrupt, "bad-corrupt", FREE_PORT, "not a readable tar archive"),
        (without_model, "bad-nomodel", FREE_PORT, "missing model file (models/"),
        (unknown_schema, "bad-schema", FREE_PORT, "unknown schema version 'categorization/v9'"),
        (unresolvable_lock, "bad-lock", FREE_PORT, "lacks 1 locked wheel(s): left-pad==9.9.9"),
        (unchanged, "extraction", FREE_PORT, "'extraction' (Bento 'categorization') clashes"),
        (unchanged, "bad-port", 3001, "bento_port must be a port between 1 and 65535 that"),
        (unchanged, "bad-busy", PORT, f"Port {PORT} is already published by {CONTAINER}"),
    ],
    ids=["corrupt-tar", "no-model", "unknown-schema", "lock-not-in-wheelhouse", "name-clash",
         "site-port", "busy-port"],
)  # fmt: skip
def test_bad_archive_fails_before_building(
    deployed: subprocess.CompletedProcess[str],
    archive: Path,
    tmp_path: Path,
    docker_client: docker.DockerClient,
    make: Any,
    name: str,
    port: int,
    reason: str,
) -> None:
    bad = make(archive, tmp_path / "bad.bento")
    before = {c.name: c.id for c in docker_client.containers.list(all=True)}
    result = playbook(
        PLAYBOOK, "-e", f"bento_archive={bad}", "-e", f"bento_ai_name={name}",
        "-e", "bento_deploy=true", "-e", f"bento_port={port}",
    )  # fmt: skip
    output = " ".join((result.stdout + result.stderr).split())
    assert result.returncode != 0, output[-3000:]
    assert reason in output, output[-3000:]
    # Nothing built, staged, written or started.
    assert "TASK [image_build" not in result.stdout
    assert "TASK [ai_stack" not in result.stdout
    after = {c.name: c.id for c in docker_client.containers.list(all=True)}
    touched = [n for n in after if before.get(n) != after[n] and n.startswith(f"aidock-{name}-")]
    assert not touched, touched
    if name != "extraction":
        assert not docker_client.images.list(name=f"{REGISTRY}/aidock/{name}")
        assert not (STACKS_DIR / name).exists()
        assert not (BUILD_DIR / name).exists()


# --- Removal ---------------------------------------------------------------------------------


def test_remove_one_version_keeps_the_others(
    deployed: subprocess.CompletedProcess[str],
    archive: Path,
    report: dict[str, Any],
    registry_password: str,
    docker_client: docker.DockerClient,
) -> None:
    extra = aidock("bento", "import", str(archive), "--name", AI_NAME, "--version", EXTRA_TAG)
    assert extra.returncode == 0, extra.stderr[-4000:]
    assert registry_tags(registry_password) == sorted([report["image_tag"], EXTRA_TAG])
    kept = tag_digest(registry_password, report["image_tag"])
    extra_signed = signed_digests(registry_password) - {kept}
    assert len(extra_signed) == (1 if SIGNS else 0)
    removed = aidock("bento", "remove", AI_NAME, "--version", EXTRA_TAG)
    assert removed.returncode == 0, removed.stderr[-4000:]
    lines = removed.stdout.splitlines()
    assert lines[0].startswith(f"removed: {AI_NAME}: tags {EXTRA_TAG}"), lines
    assert ("signature/attestation tag" in lines[0]) is SIGNS, lines
    assert lines[1] == "stack: none"
    assert registry_tags(registry_password) == [report["image_tag"]]
    # The removed version's signature went with it; the kept version's stays.
    assert signed_digests(registry_password) == ({kept} if SIGNS else set())
    assert not docker_client.images.list(name=f"{REPOSITORY}:{EXTRA_TAG}")
    assert docker_client.containers.get(CONTAINER).status == "running"  # runs the other version


def test_remove_leaves_no_stack_container_image_or_tag(
    deployed: subprocess.CompletedProcess[str],
    report: dict[str, Any],
    registry_password: str,
    docker_client: docker.DockerClient,
) -> None:
    if SIGNS:  # a signature left by a digest the tag no longer names: removed with the rest
        orphan_signature(registry_password)
    result = aidock("bento", "remove", AI_NAME)
    assert result.returncode == 0, result.stderr[-6000:]
    lines = result.stdout.splitlines()
    assert lines[0].startswith(f"removed: {AI_NAME}: tags {report['image_tag']}"), lines
    assert lines[1] == "stack: stopped and removed"
    assert "playbooks/registry_gc.yml reclaims the space" in lines[2]
    assert not (STACKS_DIR / AI_NAME).exists()
    assert ai_containers(docker_client) == []
    assert not docker_client.images.list(name=REPOSITORY)
    assert all_registry_tags(registry_password) == []  # signatures and attestations too
    assert not (BUILD_DIR / AI_NAME).exists()
    assert not list(IMPORTS_DIR.glob(f"{AI_NAME}-*"))


def test_removing_again_changes_nothing(deployed: subprocess.CompletedProcess[str]) -> None:
    result = playbook(REMOVE_PLAYBOOK, "-e", f"ai_name={AI_NAME}")
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-6000:]
    assert "no tag to delete in the registry" in result.stdout


@pytest.mark.parametrize(
    ("name", "reason"),
    [("extraction", "extraction is one of the site's AIs"), ("Bad_Name", "Set ai_name")],
)
def test_remove_refuses_site_ais_and_bad_names(
    name: str, reason: str, docker_client: docker.DockerClient
) -> None:
    before = site_stack_containers(docker_client)
    result = playbook(REMOVE_PLAYBOOK, "-e", f"ai_name={name}")
    assert result.returncode != 0
    assert reason in " ".join(result.stdout.split())
    assert site_stack_containers(docker_client) == before


def test_nothing_is_written_into_the_checkout(
    deployed: subprocess.CompletedProcess[str], checkout_before: set[str]
) -> None:
    new = git_status() - checkout_before
    # Other work may change a shared checkout meanwhile; none of it is ours, under compose/ or
    # named for the imported AI. A clean checkout stays clean.
    assert not [line for line in new if AI_NAME in line or line[3:].startswith("compose/")], new
    if not checkout_before:
        assert not new, new
