"""The agent and the batch worker against the real dockerd, registry and RAG image.

The agent app is served in-process on 127.0.0.1 (endpoint mode loopback); every container
it starts is named ``aidock-ai-*`` and labelled with an owner id unique to this run
(``aidock-dev-agent-it-<run>-<n>``), on a network this module creates and removes.
"""

from __future__ import annotations

import io
import json
import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import CA_FILE, REGISTRY, REGISTRY_USER, REPO, delete_repository
from docker.errors import NotFound
from flask import Flask
from werkzeug.serving import make_server

from aidock.agent.app import create_app, get_manager, make_catalog
from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import DockerOps
from aidock.agent.instances import InstanceManager
from aidock.cli import EXIT_OK, EXIT_UNREACHABLE, main
from aidock.worker.batch import RunOptions, run_batch

SECRETS = REPO / ".secrets"
RUN = secrets.token_hex(4)
OWNER_PREFIX = f"aidock-dev-agent-it-{RUN}"
NETWORK = f"aidock-dev-agent-net-{RUN}"
TOKEN = secrets.token_hex(24)
LOCALHOST = "127.0.0.1"
RAG = {"ai": "rag", "version": "0.1.0"}

_owners = iter(range(1, 100))


def new_owner() -> str:
    return f"{OWNER_PREFIX}-{next(_owners)}"


def owned(client: docker.DockerClient, owner: str) -> list[Any]:
    """Every container (running or not) carrying ``owner``."""
    return client.containers.list(all=True, filters={"label": f"ai.aidock.owner={owner}"})


def _remove_ours(client: docker.DockerClient) -> None:
    for container in client.containers.list(all=True, filters={"label": "ai.aidock.owner"}):
        owner = container.labels.get("ai.aidock.owner", "")
        if owner.startswith(OWNER_PREFIX) and container.name.startswith("aidock-ai-"):
            container.remove(force=True, v=True)


@pytest.fixture(scope="module", autouse=True)
def _cleanup(docker_client: docker.DockerClient) -> Iterator[None]:
    """Whatever happens, remove this run's containers, then its network."""
    yield
    _remove_ours(docker_client)
    for network in docker_client.networks.list(names=[NETWORK]):
        if network.name == NETWORK:
            network.remove()


@pytest.fixture(scope="module")
def token_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("agent") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def registry_settings() -> dict[str, Any]:
    """The registry's credentials and CA: the agent reads the catalog over its API."""
    return {
        "registry_username": REGISTRY_USER,
        "registry_password_file": SECRETS / f"registry-{REGISTRY_USER}.password",
        "registry_ca_file": CA_FILE,
    }


@pytest.fixture(scope="module")
def make_config(token_file: Path, registry_settings: dict[str, Any]) -> Callable[..., AgentConfig]:
    def make(owner: str, **overrides: Any) -> AgentConfig:
        values: dict[str, Any] = {
            "owner_id": owner,
            "registry": REGISTRY,
            "network": NETWORK,
            "endpoint_mode": "loopback",
            "token_file": token_file,
            "max_instances": 4,
            "start_timeout": 90,
            "idle_ttl": 600,
            "reap_interval": 600,
            **registry_settings,
        }
        values.update(overrides)
        return AgentConfig.model_validate(values)

    return make


@dataclass
class Agent:
    url: str
    app: Flask
    config: AgentConfig

    @property
    def manager(self) -> InstanceManager:
        return get_manager(self.app)

    def post(self, body: Any, token: str | None = TOKEN, **kwargs: Any) -> requests.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.post(
            f"{self.url}/v1/instances", json=body, headers=headers, timeout=180, **kwargs
        )

    def call(self, method: str, path: str) -> requests.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return requests.request(method, f"{self.url}{path}", headers=headers, timeout=60)


@contextmanager
def serve(config: AgentConfig) -> Iterator[Agent]:
    """The agent app on 127.0.0.1 in a thread; stopping it leaves its containers running."""
    app = create_app(config)
    server = make_server(LOCALHOST, 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield Agent(f"http://{LOCALHOST}:{server.server_port}", app, config)
    finally:
        server.shutdown()
        thread.join(5)
        get_manager(app).close()


@pytest.fixture(scope="module")
def agent(make_config: Callable[..., AgentConfig]) -> Iterator[Agent]:
    with serve(make_config(new_owner())) as running:
        yield running
        running.manager.terminate_all()


def test_request_call_terminate(agent: Agent, docker_client: docker.DockerClient) -> None:
    resp = agent.post(RAG)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["schema_version"] == "rag/v1"
    assert body["endpoint"].startswith("http://127.0.0.1:")
    assert body["digest"].startswith("sha256:")

    container = docker_client.containers.get(body["container"])
    assert container.name.startswith("aidock-ai-rag-")
    labels = container.labels
    assert labels["ai.aidock.owner"] == agent.config.owner_id
    assert (labels["ai.aidock.ai"], labels["ai.aidock.version"]) == ("rag", "0.1.0")
    assert labels["ai.aidock.started-at"].endswith("Z")
    host = container.attrs["HostConfig"]
    assert container.attrs["Config"]["User"] == "10001:10001"
    assert host["ReadonlyRootfs"] is True
    assert host["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert (host["Memory"], host["MemorySwap"]) == (1 << 30, 1 << 30)
    assert (host["NanoCpus"], host["PidsLimit"]) == (1_000_000_000, 256)
    assert host["Tmpfs"]["/data"].startswith("uid=10001,gid=10001,mode=0700")
    assert {b["HostIp"] for b in host["PortBindings"]["5001/tcp"]} == {LOCALHOST}
    assert list(container.attrs["NetworkSettings"]["Networks"]) == [NETWORK]
    assert container.attrs["Mounts"] == []  # no anonymous volume for the image's /data

    # The endpoint is ready when handed out: the first call succeeds.
    docs = {"documents": [{"id": "policy", "text": "Invoices are retained for ten years."}]}
    ingest = requests.post(
        f"{body['endpoint']}/v1/collections/itest/documents", json=docs, timeout=30
    )
    assert ingest.status_code == 201 and ingest.json()["documents"] == 1
    query = {"question": "How long are invoices retained?"}
    answer = requests.post(f"{body['endpoint']}/v1/collections/itest/query", json=query, timeout=30)
    assert answer.status_code == 200 and "ten years" in answer.json()["answer"]

    listed = agent.call("GET", "/v1/instances").json()["instances"]
    assert [i["id"] for i in listed] == [body["id"]]
    metrics = requests.get(f"{agent.url}/metrics", timeout=10).text
    assert 'aidock_agent_instances_running{ai="rag"} 1' in metrics

    assert agent.call("DELETE", f"/v1/instances/{body['id']}").status_code == 204
    with pytest.raises(NotFound):  # stopped AND removed when DELETE answers
        docker_client.containers.get(body["container"])
    assert agent.call("DELETE", f"/v1/instances/{body['id']}").status_code == 404


def test_local_image_with_the_registry_digest_is_not_pulled(agent: Agent) -> None:
    found = make_catalog(agent.config).resolve("rag", "0.1.0")
    ops = DockerOps(agent.config)
    try:
        info = ops.ensure_image(agent.config.image_for("rag", "0.1.0"), found.digest)
    finally:
        ops.close()
    assert info.pulled is False and info.digest == found.digest
    assert info.labels["ai.aidock.schema-version"] == "rag/v1"


@pytest.mark.parametrize(
    ("body", "status", "field", "text"),
    [
        ({"ai": "registry.example.com/aidock/rag", "version": "0.1.0"}, 403, "ai", "outside"),
        ({"ai": "localhost:5000/other/rag", "version": "0.1.0"}, 403, "ai", "outside"),
        ({"ai": "rag", "version": "0.1.0@sha256:" + "0" * 64}, 403, "version", "outside"),
        ({"ai": "ocr", "version": "1.0"}, 404, "ai", "unknown AI"),
        ({"ai": "rag", "version": "9.9.9"}, 404, "version", "versions: 0.1.0"),
        ({"ai": "rag"}, 422, "version", "version: Field required"),
        ({"ai": 7, "version": "0.1.0"}, 422, "ai", "ai: Input should be a valid string"),
        ({"ai": "rag", "version": "0.1.0", "gpu": True}, 422, "gpu", "gpu:"),
    ],
)
def test_refusals_start_nothing(
    agent: Agent,
    docker_client: docker.DockerClient,
    body: dict[str, Any],
    status: int,
    field: str,
    text: str,
) -> None:
    resp = agent.post(body)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field and text in resp.json()["error"]
    assert owned(docker_client, agent.config.owner_id) == []


def test_bad_tokens_and_bad_json(agent: Agent) -> None:
    assert agent.post(RAG, token=None).status_code == 401
    wrong = agent.post(RAG, token="x" * len(TOKEN))
    assert wrong.status_code == 401 and wrong.json()["error"] == "wrong bearer token"
    resp = requests.post(
        f"{agent.url}/v1/instances",
        data="{not json",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=10,
    )
    assert resp.status_code == 400 and "invalid JSON" in resp.json()["error"]


def test_max_instances_answers_429(
    make_config: Callable[..., AgentConfig], docker_client: docker.DockerClient
) -> None:
    with serve(make_config(new_owner(), max_instances=1)) as one:
        first = one.post(RAG)
        assert first.status_code == 201, first.text
        second = one.post(RAG)
        assert second.status_code == 429
        assert "max_instances (1) reached" in second.json()["error"]
        assert len(owned(docker_client, one.config.owner_id)) == 1
        assert one.call("DELETE", f"/v1/instances/{first.json()['id']}").status_code == 204
        assert owned(docker_client, one.config.owner_id) == []


def test_docker_kill_mid_batch_still_yields_every_document_once(
    agent: Agent, docker_client: docker.DockerClient, tmp_path: Path
) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    for i in range(30):
        (docs / f"doc{i:02d}.txt").write_text(
            f"Document {i}. Policy {i} says records are kept for {i + 1} years. " * 5
        )
    out = tmp_path / "results.jsonl"
    written: list[str] = []
    killed: list[str] = []

    def kill_after_five(record: dict[str, Any]) -> None:
        written.append(record["document"])
        if len(written) == 5:  # once, from the worker thread that wrote the fifth line
            victim = docker_client.containers.get(f"aidock-ai-rag-{record['instance']}")
            victim.kill()
            killed.append(victim.name)

    options = RunOptions(
        ai="rag",
        version="0.1.0",
        input=docs,
        output=out,
        agent_url=agent.url,
        token=TOKEN,
        concurrency=2,
        timeout=30,
        retries=2,
        backoff=0.2,
    )
    err = io.StringIO()
    code, summary = run_batch(options, stream=err, on_record=kill_after_five)
    assert killed, f"the AI container was not killed mid-batch: {summary} {err.getvalue()}"
    assert code == EXIT_OK, summary
    records = [json.loads(line) for line in out.read_text().splitlines()]
    names = [r["document"] for r in records]
    assert sorted(names) == [f"doc{i:02d}.txt" for i in range(30)]  # each exactly once
    assert all(r["ok"] for r in records)
    assert summary.replacements >= 1
    assert len({r["instance"] for r in records}) >= 2
    assert owned(docker_client, agent.config.owner_id) == []  # killed one removed too


def test_agent_restart_adopts_running_instances_and_removes_dead_ones(
    make_config: Callable[..., AgentConfig], docker_client: docker.DockerClient
) -> None:
    config = make_config(new_owner())
    with serve(config) as first:
        alive = first.post(RAG).json()
        dead = first.post(RAG).json()
    docker_client.containers.get(dead["container"]).kill()  # crashed while the agent was down

    with serve(config) as second:
        listed = second.call("GET", "/v1/instances").json()["instances"]
        assert [i["id"] for i in listed] == [alive["id"]]
        assert listed[0]["endpoint"] == alive["endpoint"]
        with pytest.raises(NotFound):
            docker_client.containers.get(dead["container"])
        assert requests.get(f"{alive['endpoint']}/readyz", timeout=10).status_code == 200
        metrics = requests.get(f"{second.url}/metrics", timeout=10).text
        assert 'aidock_agent_instances_adopted_total{ai="rag"} 1' in metrics
        assert second.call("DELETE", f"/v1/instances/{alive['id']}").status_code == 204
    assert owned(docker_client, config.owner_id) == []


def test_start_timeout_leaves_no_container(
    make_config: Callable[..., AgentConfig],
    docker_client: docker.DockerClient,
    tmp_path: Path,
    registry_password: str,
    request: pytest.FixtureRequest,
) -> None:
    """The AI's own start timeout comes from its image's ai.aidock.start-timeout label."""
    config = make_config(new_owner())
    context = tmp_path / "slow"
    context.mkdir()
    (context / "Dockerfile").write_text(f"FROM {REGISTRY}/aidock/rag:0.1.0\n")
    ref = f"{REGISTRY}/aidock/itest-slow-rag"
    docker_client.images.build(
        path=str(context), tag=f"{ref}:1", labels={"ai.aidock.start-timeout": "0.5"}, rm=True
    )
    for line in docker_client.images.push(ref, tag="1", stream=True, decode=True):
        assert "error" not in line, line
    request.addfinalizer(lambda: delete_repository("itest-slow-rag", registry_password))
    # The local tag too: it would outlive the run (a name only, its layers are rag's).
    request.addfinalizer(lambda: docker_client.images.remove(f"{ref}:1", noprune=True))
    with serve(config) as slow:
        resp = slow.post({"ai": "itest-slow-rag", "version": "1"})
        assert resp.status_code == 504, resp.text
        assert "not ready within 0.5s" in resp.json()["error"]
        assert owned(docker_client, config.owner_id) == []
        assert slow.call("GET", "/v1/instances").json()["instances"] == []


def test_idle_instances_are_reaped(
    make_config: Callable[..., AgentConfig], docker_client: docker.DockerClient
) -> None:
    config = make_config(new_owner(), idle_ttl=1, reap_interval=0.5)
    with serve(config) as reaping:
        assert reaping.post(RAG).status_code == 201
        deadline = time.monotonic() + 20
        while owned(docker_client, config.owner_id) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert owned(docker_client, config.owner_id) == []
        assert reaping.call("GET", "/v1/instances").json()["instances"] == []


def test_worker_exits_3_when_the_registry_is_unreachable(
    make_config: Callable[..., AgentConfig],
    tmp_path: Path,
    token_file: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        port = sock.getsockname()[1]
    config = make_config(new_owner(), registry=f"localhost:{port}", registry_username=None)
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("text")
    with serve(config) as agent:
        code = main(
            [
                "worker", "run", "--ai", "rag", "--version", "0.1.0", "--input", str(docs),
                "--output", str(tmp_path / "r.jsonl"), "--agent-url", agent.url,
                "--token-file", str(token_file),
            ]
        )  # fmt: skip
    assert code == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert f"the registry https://localhost:{port} is not reachable" in err
