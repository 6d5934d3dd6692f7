"""dockerd restarted the way the docker_engine role restarts it (restart-background.yml), in the
middle of a batch of the agent stack's worker run through `make batch`'s logic (scripts/batch.py).

Self-contained: its documents and results live in sub-directories of the stack's input and
output directories, removed at the end, and dockerd answers again at the end whatever happened.
It restarts this host's dockerd (live-restore keeps containers running): on a machine whose
dockerd others are using at the moment, set AIDOCK_NO_DOCKERD_RESTART=1 to skip it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import docker
import pytest
import requests
from conftest import AGENT_CONTAINER, REPO

SKIP_ENV = "AIDOCK_NO_DOCKERD_RESTART"
PROJECT = Path("/opt/aidock/stacks/agent")
AGENT_URL = "http://127.0.0.1:8700"
SOCKET_DIR = "/run/aidock/docker"
PROXY_CONTAINER = "aidock-agent-dockerproxy-1"
PID_FILE = Path("/var/run/docker.pid")
DOCKERD_LOG = "/var/log/dockerd.log"
SUBDIR = "dockerd-restart"
DOCUMENTS = 600
LETTERS = sorted((REPO / "data" / "letters").glob("*.txt"))
AGENT_BACK_WITHIN = 30.0

pytestmark = pytest.mark.restarts_dockerd


def dockerd_answers() -> bool:
    done = subprocess.run(
        ["docker", "version", "--format", "{{.Server.Version}}"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def start_dockerd() -> None:
    """dockerd-background.yml: detached from us, its log appended to /var/log/dockerd.log."""
    subprocess.run(
        f"set -o pipefail; setsid dockerd >>{DOCKERD_LOG} 2>&1 < /dev/null &",
        shell=True,
        executable="/bin/bash",
        check=True,
    )


def wait_until(condition: Callable[[], bool], timeout: float, step: float = 0.2) -> float | None:
    """Seconds until ``condition()`` held, None when it did not within ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            if condition():
                return time.monotonic() - started
        except (requests.RequestException, docker.errors.DockerException):
            pass
        time.sleep(step)
    return None


def restart_dockerd() -> dict[str, float]:
    """restart-background.yml: SIGTERM, wait for the pid file to go, start it again."""
    began = time.monotonic()
    # By the pid file: the host's dockerd only, not those of docker-in-docker test hosts.
    stop = subprocess.run(
        ["pkill", "-TERM", "-x", "--pidfile", str(PID_FILE), "dockerd"], check=False
    )
    assert stop.returncode == 0, "no dockerd to stop"
    gone = wait_until(lambda: not PID_FILE.exists(), 60)
    assert gone is not None, "dockerd did not exit within 60 s"
    start_dockerd()
    up = wait_until(dockerd_answers, 60, step=0.5)
    assert up is not None, "dockerd did not answer within 60 s of its start"
    return {"stop_seconds": gone, "down_seconds": time.monotonic() - began}


def agent_health(client: docker.DockerClient) -> tuple[int, str]:
    status = requests.get(f"{AGENT_URL}/healthz", timeout=5).status_code
    container = client.containers.get(AGENT_CONTAINER)
    return status, container.attrs["State"].get("Health", {}).get("Status", "none")


def ai_containers(client: docker.DockerClient) -> set[str]:
    return {c.name for c in client.containers.list(all=True, filters={"name": "aidock-ai-"})}


@pytest.fixture
def batch_dirs() -> Iterator[tuple[Path, Path]]:
    """A sub-directory of the stack's input with generated letters, and one for the output."""
    if os.environ.get(SKIP_ENV):
        pytest.skip(f"{SKIP_ENV} is set: this dockerd must not be restarted now")
    inbox, outbox = PROJECT / "input" / SUBDIR, PROJECT / "output" / SUBDIR
    for path in (inbox, outbox):
        shutil.rmtree(path, ignore_errors=True)
    inbox.mkdir()
    for i in range(DOCUMENTS):
        text = LETTERS[i % len(LETTERS)].read_text() + f"\nOur reference: R-{i:05d}\n"
        (inbox / f"letter-{i:04d}.txt").write_text(text)
    yield inbox, outbox
    for path in (inbox, outbox):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
def dockerd_back() -> Iterator[None]:
    """Whatever happens in the test, dockerd answers at the end."""
    yield
    if not dockerd_answers():
        if not PID_FILE.exists():
            start_dockerd()
        assert wait_until(dockerd_answers, 60, step=0.5) is not None


# After how many result lines dockerd is stopped: early, the batch goes on while dockerd is away;
# late, it ends then, and the worker's DELETE meets an agent whose Docker does not answer.
@pytest.mark.parametrize("restart_at", [60, 560], ids=["mid-batch", "at-the-end"])
def test_a_batch_spanning_a_dockerd_restart_finishes_and_tells_the_truth(
    docker_client: docker.DockerClient,
    batch_dirs: tuple[Path, Path],
    dockerd_back: None,
    tmp_path: Path,
    restart_at: int,
) -> None:
    inbox, outbox = batch_dirs
    # The agent reaches dockerd through the policy proxy, which mounts the socket's directory.
    proxy = docker_client.containers.get(PROXY_CONTAINER)
    mounts = {m["Destination"]: m["Source"] for m in proxy.attrs["Mounts"]}
    assert mounts.get(SOCKET_DIR) == SOCKET_DIR, "deploy the agent of this checkout first"
    assert agent_health(docker_client) == (200, "healthy")
    before = ai_containers(docker_client)
    output = outbox / "letters.jsonl"
    summary_file = outbox / "letters.jsonl.summary.json"
    out_file, err_file = tmp_path / "batch.out", tmp_path / "batch.err"
    with out_file.open("w") as log_out, err_file.open("w") as log_err:
        batch = subprocess.Popen(
            [sys.executable, str(REPO / "scripts" / "batch.py"), "--project", str(PROJECT),
             "--summary", str(summary_file), "--", "run", "--ai", "extraction",
             "--version", "0.1.0", "--input", f"/input/{SUBDIR}",
             "--output", f"/output/{SUBDIR}/letters.jsonl", "--concurrency", "1"],
            stdout=log_out, stderr=log_err, text=True,
        )  # fmt: skip
    try:
        started = wait_until(
            lambda: output.exists() and len(output.read_bytes().splitlines()) >= restart_at, 300
        )
        assert started is not None and batch.poll() is None, "the batch ended before the restart"
        evidence: dict[str, float] = restart_dockerd()
        evidence["lines_at_restart_end"] = len(output.read_bytes().splitlines())
        healthy = wait_until(lambda: agent_health(docker_client) == (200, "healthy"), 120)
        evidence["agent_healthy_after_seconds"] = healthy if healthy is not None else -1.0
        code = batch.wait(600)
    finally:
        if batch.poll() is None:
            batch.kill()
    out, err = out_file.read_text(), err_file.read_text()
    left = wait_until(lambda: not (ai_containers(docker_client) - before), 20)
    evidence.update(batch_exit=code, ai_containers_gone_after_seconds=left or 0.0)
    print(json.dumps(evidence))
    assert code == 0, out[-3000:] + err[-3000:]
    records = [json.loads(line) for line in output.read_text().splitlines()]
    names = [r["document"] for r in records]
    assert len(names) == len(set(names)) == DOCUMENTS  # every document exactly once
    assert sorted(names) == sorted(p.name for p in inbox.iterdir())
    assert all(r["ok"] for r in records)
    summary = json.loads(summary_file.read_text())
    assert (summary["documents"], summary["ok"], summary["failed"]) == (DOCUMENTS, DOCUMENTS, 0)
    assert (summary["not_done"], summary["exit_code"]) == (0, 0)
    assert summary["summary"] in out  # on stdout, from the worker or from scripts/batch.py
    assert healthy is not None and healthy <= AGENT_BACK_WITHIN, evidence
    assert left is not None, ai_containers(docker_client) - before  # no AI container left
