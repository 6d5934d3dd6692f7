"""The worker spreads a batch over every replica of an instance (the swarm backend's
``endpoints``); a replica that dies mid-batch is dropped and its documents go elsewhere,
each document exactly once in the output, resumable.

The replicas are fake AIs on their own servers on 127.0.0.1; the agent is a small stand-in
that hands out an instance listing them (what the real agent's swarm backend answers is
tested in ``test_agent_swarm_instances``).
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, Response, jsonify
from test_agent_fakes import FakeAiState, Server, fake_ai_app
from worker_agent import lines, make_docs

from aidock.cli import EXIT_OK
from aidock.client.http import ApiClient
from aidock.worker.batch import RunOptions, run_batch
from aidock.worker.replicas import NoReplica, ReplicaPool

TOKEN = "t" * 32
STARTED = "2026-11-30T00:00:00Z"


@dataclass
class Replicas:
    """Fake AI servers, each with its own state, and the agent's current list of them."""

    servers: list[Server] = field(default_factory=list)
    states: list[FakeAiState] = field(default_factory=list)
    listed: list[str] = field(default_factory=list)
    requested: list[dict[str, Any]] = field(default_factory=list)
    deleted: int = 0

    def add(self) -> str:
        state = FakeAiState()
        server = Server(fake_ai_app(state))
        self.servers.append(server)
        self.states.append(state)
        url = f"http://127.0.0.1:{server.port}"
        self.listed.append(url)
        return url

    def kill(self, index: int) -> None:
        """The replica's node is lost: its server stops; Swarm starts a task elsewhere."""
        self.servers[index].stop()
        self.listed.remove(f"http://127.0.0.1:{self.servers[index].port}")
        self.add()

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()


def agent_app(replicas: Replicas) -> Flask:
    app = Flask("fake-agent")

    def instance() -> dict[str, Any]:
        return {
            "id": "i1",
            "ai": "rag",
            "version": "0.1.0",
            "image": "localhost:5000/aidock/rag:0.1.0",
            "endpoint": replicas.listed[0],  # stands for the service's DNS name
            "replicas": len(replicas.listed),
            "endpoints": list(replicas.listed),
            "schema_version": "rag/v1",
            "container": "aidock-ai-rag-i1",
            "started_at": STARTED,
            "last_used_at": STARTED,
            "idle_ttl": 3.0,
        }

    @app.post("/v1/instances")
    def create() -> tuple[Response, int]:
        from flask import request  # noqa: PLC0415  only inside a request

        replicas.requested.append(dict(request.get_json()))
        return jsonify(instance()), 201

    @app.get("/v1/instances/i1")
    def get() -> Response:
        return jsonify(instance())

    @app.delete("/v1/instances/i1")
    def delete() -> Response:
        replicas.deleted += 1
        return Response(status=204)

    return app


@pytest.fixture
def replicas() -> Iterator[Replicas]:
    found = Replicas()
    for _ in range(3):
        found.add()
    yield found
    found.stop_all()


def run_options(url: str, docs: Path, out: Path, **overrides: Any) -> RunOptions:
    values: dict[str, Any] = {
        "ai": "rag",
        "version": "0.1.0",
        "input": docs,
        "output": out,
        "agent_url": url,
        "token": TOKEN,
        "concurrency": 6,
        "timeout": 5.0,
        "retries": 0,
        "backoff": 0.01,
        "replicas": 3,
        "outage_wait": 2.0,
    }
    values.update(overrides)
    return RunOptions(**values)


def test_documents_are_spread_over_every_replica(
    replicas: Replicas, wsgi_server: Any, tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "in", 60)
    out = tmp_path / "out.jsonl"
    with wsgi_server(agent_app(replicas)) as url:
        code, summary = run_batch(run_options(url, docs, out), stream=io.StringIO())
    assert code == EXIT_OK, summary
    records = lines(out)
    names = [r["document"] for r in records]
    assert len(names) == len(set(names)) == 60 and all(r["ok"] for r in records)
    assert replicas.requested == [{"ai": "rag", "version": "0.1.0", "replicas": 3}]
    assert {r["replica"] for r in records} == set(replicas.listed)
    assert all(state.calls > 5 for state in replicas.states)  # every replica served some
    assert sum(summary.replica_calls.values()) == 60
    assert replicas.deleted == 1


def test_a_replica_that_dies_mid_batch_is_dropped_and_nothing_is_lost_or_doubled(
    replicas: Replicas, wsgi_server: Any, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    docs = make_docs(tmp_path / "in", 90)
    out = tmp_path / "out.jsonl"
    dead = replicas.listed[1]

    def kill(count: int) -> None:
        if count == 8:  # beside its 8th document, the replica's node is lost
            threading.Thread(target=replicas.kill, args=(1,), daemon=True).start()

    replicas.states[1].on_call = kill
    with wsgi_server(agent_app(replicas)) as url:
        code, summary = run_batch(run_options(url, docs, out, timeout=2.0), stream=io.StringIO())
    assert code == EXIT_OK, summary
    records = lines(out)
    names = [r["document"] for r in records]
    assert len(names) == len(set(names)) == 90
    assert all(r["ok"] for r in records), [r for r in records if not r["ok"]]
    assert summary.replacements == 0  # the instance lives on: its other replicas answer
    counts = {url: sum(1 for r in records if r["replica"] == url) for url in replicas.listed}
    counts[dead] = sum(1 for r in records if r["replica"] == dead)
    assert set(counts) >= {r["replica"] for r in records}
    survivors = [url for url in replicas.listed[:2]]  # the two that never died
    assert all(counts[dead] < counts[url] for url in survivors)
    assert f"replica {dead} stopped answering" in caplog.text


def test_a_rerun_skips_what_is_done(replicas: Replicas, wsgi_server: Any, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 20)
    out = tmp_path / "out.jsonl"
    with wsgi_server(agent_app(replicas)) as url:
        run_batch(run_options(url, docs, out), stream=io.StringIO())
        calls = sum(s.calls for s in replicas.states)
        code, summary = run_batch(run_options(url, docs, out), stream=io.StringIO())
    assert code == EXIT_OK and summary.skipped == 20 and summary.processed == 0
    assert sum(s.calls for s in replicas.states) == calls
    assert len(lines(out)) == 20


def test_the_pool_leases_the_least_busy_and_readmits_a_dropped_replica_late() -> None:
    now = [0.0]
    pool = ReplicaPool(["http://a", "http://b"], ApiClient, readmit_after=30, clock=lambda: now[0])
    with pool.lease() as first, pool.lease() as second:
        assert {first.url, second.url} == {"http://a", "http://b"}
    assert pool.drop("http://a") and not pool.drop("http://a")
    assert pool.update(["http://a", "http://b", "http://c"]) == ["http://c"]  # a: too soon
    now[0] = 31.0
    assert pool.update(["http://a", "http://c"]) == ["http://a"]
    assert pool.urls == ["http://c", "http://a"]  # b is no longer listed
    pool.drop("http://a")
    pool.drop("http://c")
    with pytest.raises(NoReplica), pool.lease():
        pass
