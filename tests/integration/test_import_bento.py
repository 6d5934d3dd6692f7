"""Import a user's .bento archive as a custom AI, for real: train, import, call; and bad archives.

A small categorization AI is trained and saved as a Bento (named ``categorization`` like the
site's own AI), then imported under another name with ``aidock bento import --deploy``, which runs
``playbooks/import_bento.yml``: image in the registry, stack healthy and hardened, answers that
validate against the schema. Then damaged archives, a name clash and a port clash each make the
playbook fail with the reason, before anything is built or started. The imported AI is removed
at the end (ai_stack state absent with purge, registry manifest, compose folder, build caches).
"""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
import yaml
from conftest import CA_FILE, REGISTRY_URL, REGISTRY_USER, REPO, aidock, wait_healthy

from aidock.ais.corpus import generate_one
from aidock.bento.archive import LABELS, LOCK_MEMBER
from aidock.schemas.bento import CategorizationResponse

AI_NAME = "invoice-sorter"
PORT = 3013
FREE_PORT = 3014  # the bad archives' port: PORT is taken by the imported AI meanwhile
URL = f"http://127.0.0.1:{PORT}"
CONTAINER = f"aidock-{AI_NAME}-{AI_NAME}-1"
PLAYBOOK = "playbooks/import_bento.yml"
STACKS_DIR = Path("/opt/aidock/stacks")
BUILD_DIR = Path("/var/cache/aidock/ai_image")
IMPORTS_DIR = REPO / ".cache" / "bento" / "imports"
MANIFEST_TYPES = ", ".join(
    [
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    ]
)
DOCUMENT = generate_one(seed=99, index=1, category="invoice")


def playbook(play: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(REPO / ".venv/bin/ansible-playbook"), "-i", "inventories/local", play, *extra],
        cwd=REPO,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin", "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def registry_get(path: str, password: str, **headers: str) -> requests.Response:
    return requests.get(
        f"{REGISTRY_URL}{path}",
        auth=(REGISTRY_USER, password),
        verify=str(CA_FILE),
        headers=headers,
        timeout=30,
    )


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small categorization Bento, exported as a .bento archive."""
    out = tmp_path_factory.mktemp("bento")
    result = aidock(
        "bento", "build", "--ai", "categorization", "--train-docs", "200",
        "--output", str(out / "archive"), "--json",
        env={"BENTOML_HOME": str(out / "store"), "BENTOML_DO_NOT_TRACK": "true"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    return next((out / "archive").glob("*.bento"))


@pytest.fixture(scope="module")
def report(archive: Path) -> dict[str, Any]:
    import json

    result = aidock("bento", "validate", str(archive), "--name", AI_NAME, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def remove_imported(name: str, version: str, password: str) -> None:
    """Stop and purge the stack, drop the tag from the registry, remove the generated files."""
    if (REPO / "compose" / name / "compose.yaml").is_file():
        stack = f'{{"name": "{name}", "version": "{version}", "port": {PORT}}}'
        done = playbook(
            "playbooks/stacks.yml",
            "-e",
            f'{{"ai_stack_list": [{stack}], "ai_stack_state": "absent", "ai_stack_purge": true}}',
        )
        assert done.returncode == 0, done.stdout[-3000:]
    head = registry_get(f"/v2/aidock/{name}/manifests/{version}", password, Accept=MANIFEST_TYPES)
    if head.status_code == 200:
        requests.delete(
            f"{REGISTRY_URL}/v2/aidock/{name}/manifests/{head.headers['Docker-Content-Digest']}",
            auth=(REGISTRY_USER, password),
            verify=str(CA_FILE),
            timeout=30,
        ).raise_for_status()
    for path in (REPO / "compose" / name, STACKS_DIR / name, BUILD_DIR / name):
        shutil.rmtree(path, ignore_errors=True)
    for path in IMPORTS_DIR.glob(f"{name}-*"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def imported(
    archive: Path, report: dict[str, Any], registry_password: str
) -> Iterator[subprocess.CompletedProcess[str]]:
    """The archive imported as AI_NAME on PORT through `aidock bento import --deploy`."""
    try:
        result = aidock(
            "bento", "import", str(archive), "--deploy", "--name", AI_NAME, "--port", str(PORT),
            env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg")},
        )  # fmt: skip
        yield result
    finally:
        remove_imported(AI_NAME, report["image_tag"], registry_password)


def test_import_deploys_the_ai(imported: subprocess.CompletedProcess[str]) -> None:
    assert imported.returncode == 0, imported.stdout[-6000:] + imported.stderr[-2000:]
    assert f"{PLAYBOOK}" in imported.stderr
    assert f"AI {AI_NAME} (categorization:" in imported.stdout


def test_image_is_in_the_registry(
    imported: subprocess.CompletedProcess[str], report: dict[str, Any], registry_password: str
) -> None:
    tags = registry_get(f"/v2/aidock/{AI_NAME}/tags/list", registry_password)
    assert tags.status_code == 200, tags.text
    assert report["image_tag"] in tags.json()["tags"]


def test_stack_is_healthy_and_hardened(
    imported: subprocess.CompletedProcess[str],
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


def test_compose_file_is_written_and_pinned(
    imported: subprocess.CompletedProcess[str], report: dict[str, Any]
) -> None:
    compose = yaml.safe_load((REPO / "compose" / AI_NAME / "compose.yaml").read_text())
    service = compose["services"][AI_NAME]
    assert compose["name"] == f"aidock-{AI_NAME}"
    assert service["image"].endswith(f"/aidock/{AI_NAME}:${{AI_VERSION:-{report['image_tag']}}}")
    assert service["read_only"] is True
    assert service["cap_drop"] == ["ALL"]
    assert "healthcheck" in service
    env = (STACKS_DIR / AI_NAME / ".env").read_text()
    assert f"AI_VERSION={report['image_tag']}" in env
    assert f"AI_PORT={PORT}" in env


def test_endpoint_answers_in_its_schema(imported: subprocess.CompletedProcess[str]) -> None:
    info = requests.get(f"{URL}/info", timeout=10).json()
    assert info["schema_version"] == "categorization/v1"
    response = requests.post(f"{URL}/categorize", json={"text": DOCUMENT.text}, timeout=30)
    assert response.status_code == 200, response.text
    answer = CategorizationResponse.model_validate(response.json())
    assert answer.category == "invoice"
    bad = requests.post(f"{URL}/categorize", json={"text": "   "}, timeout=30)
    assert 400 <= bad.status_code < 500
    assert bad.json()["field"] == "text"


def recap(output: str) -> dict[str, int]:
    line = re.search(r"^localhost\s*:\s*(.*)$", output, re.MULTILINE)
    assert line, output[-2000:]
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", line.group(1))}


def test_reimport_changes_nothing(
    imported: subprocess.CompletedProcess[str], archive: Path
) -> None:
    result = playbook(
        PLAYBOOK, "-e", f"bento_archive={archive}", "-e", f"bento_ai_name={AI_NAME}",
        "-e", f"bento_port={PORT}",
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    assert recap(result.stdout)["changed"] == 0, result.stdout[-6000:]


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
    import hashlib

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
        (unchanged, "bad-port", 3001, "bento_port a port between 1 and 65535 that neither"),
        (unchanged, "bad-busy", PORT, f"Port {PORT} is already published by {CONTAINER}"),
    ],
    ids=["corrupt-tar", "no-model", "unknown-schema", "lock-not-in-wheelhouse", "name-clash",
         "site-port", "busy-port"],
)  # fmt: skip
def test_bad_archive_fails_before_building(
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
    extraction_compose = (REPO / "compose" / "extraction" / "compose.yaml").read_text()
    result = playbook(
        PLAYBOOK, "-e", f"bento_archive={bad}", "-e", f"bento_ai_name={name}",
        "-e", f"bento_port={port}",
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
    assert (REPO / "compose" / "extraction" / "compose.yaml").read_text() == extraction_compose
    if name != "extraction":
        assert not docker_client.images.list(name=f"localhost:5000/aidock/{name}")
        assert not (REPO / "compose" / name).exists()
        assert not (BUILD_DIR / name).exists()
