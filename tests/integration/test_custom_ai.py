"""The seed's sequence with a custom AI made here, end to end on the deployed site.

Train a small categorization model, ``model.save_bento(output_dir='.../x.bento')``, ``aidock
bento import`` it under a new name (no ``--deploy``: the image is pushed, nothing runs), the
deployed agent lists it at once (``GET /v1/ais``), the worker service batches the shipped
letters through it via the agent (pulled, started hardened, terminated), every answer
validates against the schema, no instance is left, and ``aidock bento remove`` takes it
away again. The checkout's ``git status`` is the same afterwards (empty on a fresh clone).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from conftest import REPO

from aidock.schemas.bento import CategorizationResponse

AI = "itest-mycat"
VERSION = "1"
AGENT_URL = "http://127.0.0.1:8700"
PROJECT = Path("/opt/aidock/stacks/agent")
INPUT = PROJECT / "input" / AI
OUTPUT = PROJECT / "output" / f"{AI}.jsonl"
LETTERS = sorted((REPO / "data" / "letters").glob("*.txt"))
ENV = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "BENTOML_DO_NOT_TRACK": "true"}
TRAIN = """
import sys
from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import generate

model = CategorizationAI().train(generate(200, 5))
print(model.save_bento(output_dir=sys.argv[1]).archive)
"""


def run(*argv: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=REPO,
        env={**os.environ, **ENV, **(env or {})},
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )


def aidock_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run(str(Path(sys.executable).parent / "aidock"), *args)


def git_status() -> str:
    return run("git", "status", "--porcelain", "--untracked-files=all").stdout


@pytest.fixture(scope="module")
def token() -> str:
    return (REPO / ".secrets" / "agent.token").read_text().strip()


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The checkout's status before; the AI trained, saved as a Bento and imported."""
    before = git_status()
    tmp = tmp_path_factory.mktemp("custom-ai")
    archive = tmp / "out" / "mycat.bento"
    trained = run(
        sys.executable, "-c", TRAIN, str(archive), env={"BENTOML_HOME": str(tmp / "bentoml")}
    )
    assert trained.returncode == 0, trained.stderr[-3000:]
    assert trained.stdout.strip().endswith(str(archive)) and archive.is_file()
    done = aidock_cli("bento", "import", str(archive), "--name", AI, "--version", VERSION)
    assert done.returncode == 0, done.stderr[-3000:]
    assert f"localhost:5000/aidock/{AI}:{VERSION}" in done.stdout
    yield before
    shutil.rmtree(INPUT, ignore_errors=True)
    OUTPUT.unlink(missing_ok=True)
    aidock_cli("bento", "remove", AI)


def test_import_starts_nothing(imported: str, docker_client: docker.DockerClient) -> None:
    assert docker_client.containers.list(all=True, filters={"label": f"ai.aidock.ai={AI}"}) == []
    assert not Path(f"/opt/aidock/stacks/{AI}").exists()


def test_the_agent_lists_it_without_a_restart(imported: str, token: str) -> None:
    resp = requests.get(
        f"{AGENT_URL}/v1/ais/{AI}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert resp.status_code == 200, resp.text
    (version,) = resp.json()["versions"]
    assert (version["version"], version["usable"]) == (VERSION, True)
    assert version["schema_version"] == "categorization/v1"
    assert version["port"] == 3000


def test_the_worker_batches_through_the_agent_and_nothing_is_left(
    imported: str, token: str, docker_client: docker.DockerClient
) -> None:
    INPUT.mkdir(mode=0o755, parents=True, exist_ok=True)
    for letter in LETTERS:
        shutil.copyfile(letter, INPUT / letter.name)
        (INPUT / letter.name).chmod(0o644)
    OUTPUT.unlink(missing_ok=True)
    batch = run(
        "docker", "compose", "-f", str(PROJECT / "compose.yaml"), "run", "--rm", "-T",
        "worker", "run", "--ai", AI, "--version", VERSION,
        "--input", f"/input/{AI}", "--output", f"/output/{OUTPUT.name}",
    )  # fmt: skip
    assert batch.returncode == 0, batch.stdout[-2000:] + batch.stderr[-2000:]
    records = [json.loads(line) for line in OUTPUT.read_text().splitlines()]
    assert sorted(r["document"] for r in records) == [p.name for p in LETTERS]
    for record in records:
        assert record["ok"] is True, record
        answer = CategorizationResponse.model_validate(record["result"])
        assert answer.schema_version == "categorization/v1"
    listed = requests.get(
        f"{AGENT_URL}/v1/instances", headers={"Authorization": f"Bearer {token}"}, timeout=60
    ).json()["instances"]
    assert [i for i in listed if i["ai"] == AI] == []
    assert docker_client.containers.list(all=True, filters={"label": f"ai.aidock.ai={AI}"}) == []


def test_remove_leaves_no_tag_and_the_checkout_unchanged(imported: str, token: str) -> None:
    done = aidock_cli("bento", "remove", AI)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "registry_gc.yml" in done.stdout + done.stderr
    resp = requests.get(
        f"{AGENT_URL}/v1/ais/{AI}", headers={"Authorization": f"Bearer {token}"}, timeout=60
    )
    assert resp.status_code == 404
    assert git_status() == imported
