"""``run_batch``: resume and dedup, replacement of a dead AI, outages, interruption.

The agent is the real app on a local werkzeug server with Docker faked (``worker_agent``).
"""

from __future__ import annotations

import io
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from worker_agent import (
    Agent,
    documents_in,
    in_background,
    lines,
    make_docs,
    options,
    running_agent,
    served_agent,
    write_token,
)

from aidock.cli import EXIT_OK, EXIT_UNREACHABLE
from aidock.worker.batch import EXIT_INTERRUPTED, EXIT_PARTIAL, run_batch
from aidock.worker.inputs import list_documents


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return write_token(tmp_path)


@pytest.fixture
def agent(token_file: Path, wsgi_server: Any) -> Iterator[Agent]:
    with running_agent(token_file, wsgi_server) as running:
        yield running


def test_every_document_once_then_the_instance_is_terminated(agent: Agent, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 12)
    out = tmp_path / "out" / "results.jsonl"
    err = io.StringIO()
    seen: list[dict[str, Any]] = []
    code, summary = run_batch(options(agent, docs, out), stream=err, on_record=seen.append)
    assert code == EXIT_OK, summary
    assert sorted(r["document"] for r in seen) == sorted(documents_in(out))
    names = documents_in(out)
    assert sorted(names) == sorted(d.relpath for d in list_documents(docs))
    assert len(names) == len(set(names)) == 12
    assert "sub/doc00.txt" in names and ".hidden" not in names
    first = lines(out)[0]
    assert list(first)[:3] == ["document", "ok", "result"]
    assert first["result"] == {"collection": "batch", "documents": 1, "passages": 1}
    assert (first["ai"], first["schema_version"]) == ("rag", "rag/v1")
    assert len(first["sha256"]) == 64
    assert agent.ops.containers == {} and len(agent.ops.runs) == 1
    assert "12/12 documents (0 failed)" in err.getvalue()
    assert summary.text(out).startswith("documents: 12 (0 already done), ok: 12, failed: 0")

    before = out.read_bytes()
    code, summary = run_batch(options(agent, docs, out), stream=io.StringIO())
    assert (code, summary.skipped, summary.processed) == (EXIT_OK, 12, 0)
    assert out.read_bytes() == before
    assert len(agent.ops.runs) == 1  # nothing to do: no instance requested


def test_resume_skips_what_is_done_and_drops_a_truncated_line(agent: Agent, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 9)
    out = tmp_path / "results.jsonl"
    done = ["doc01.txt", "doc02.txt", "sub/doc03.txt"]
    out.write_text(
        "".join(json.dumps({"document": d, "ok": True, "result": {}}) + "\n" for d in done)
        + '{"document": "doc04.txt", "ok": tr'
    )
    code, summary = run_batch(options(agent, docs, out), stream=io.StringIO())
    assert code == EXIT_OK
    assert summary.skipped == 3 and summary.ok == 6
    names = documents_in(out)
    assert names[:3] == done and len(names) == len(set(names)) == 9
    assert not any("Document 1." in t or "Document 3." in t for t in agent.state.texts)


def test_a_dead_ai_is_replaced_without_losing_or_doubling_documents(
    agent: Agent, tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "in", 30)
    out = tmp_path / "results.jsonl"
    agent.state.on_call = lambda n: agent.kill_first_running() if n == 5 else None
    code, summary = run_batch(options(agent, docs, out, concurrency=2), stream=io.StringIO())
    assert code == EXIT_OK, summary
    records = lines(out)
    names = [r["document"] for r in records]
    assert len(names) == len(set(names)) == 30
    assert all(r["ok"] for r in records)
    assert len({r["instance"] for r in records}) == 2
    assert summary.replacements == 1
    assert agent.ops.containers == {}  # the dead one and the new one are both removed


def test_an_ai_that_keeps_dying_aborts_with_exit_3(agent: Agent, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 20)
    out = tmp_path / "results.jsonl"
    agent.state.on_call = lambda n: agent.kill_first_running() if n % 2 == 0 else None
    code, summary = run_batch(
        options(agent, docs, out, concurrency=1, max_replacements=2), stream=io.StringIO()
    )
    assert code == EXIT_UNREACHABLE
    assert summary.aborted and "stayed unreachable after 2 new instances" in summary.aborted
    names = documents_in(out)
    assert len(names) == len(set(names)) < 20  # the rest is left for a rerun
    assert agent.ops.containers == {}


def test_a_slow_document_fails_alone_without_replacing_a_live_ai(
    agent: Agent, tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "in", 4, extra={"slow.txt": b"a SLOW one"})
    out = tmp_path / "results.jsonl"
    code, summary = run_batch(options(agent, docs, out, timeout=0.3), stream=io.StringIO())
    assert code == EXIT_PARTIAL and (summary.ok, summary.failed) == (4, 1)
    assert summary.replacements == 0 and len(agent.ops.runs) == 1
    slow = next(r for r in lines(out) if r["document"] == "slow.txt")
    assert "no usable answer: no answer within 0.3s" in slow["error"]


def test_document_failures_are_lines_and_retry_failed_replaces_them(
    agent: Agent, tmp_path: Path
) -> None:
    extra = {
        "reject.txt": b"please REJECT me",
        "schema.txt": b"answer BADSCHEMA",
        "empty.txt": b"   \n",
        "binary.bin": b"\xff\xfe\x00",
    }
    docs = make_docs(tmp_path / "in", 3, extra=extra)
    out = tmp_path / "results.jsonl"
    code, summary = run_batch(options(agent, docs, out), stream=io.StringIO())
    assert code == EXIT_PARTIAL and (summary.ok, summary.failed) == (3, 4)
    by_name = {r["document"]: r for r in lines(out)}
    assert by_name["reject.txt"]["status"] == 422 and by_name["reject.txt"]["field"] == "text"
    assert "does not match the schema: documents" in by_name["schema.txt"]["error"]
    assert by_name["empty.txt"]["field"] == "text" and by_name["empty.txt"]["status"] is None
    assert "not UTF-8" in by_name["binary.bin"]["error"]
    assert all(t.strip() for t in agent.state.texts)  # invalid input is never sent

    agent.state.reject_marker = agent.state.bad_schema_marker = "NOTHING-MATCHES"
    code, summary = run_batch(options(agent, docs, out, retry_failed=True), stream=io.StringIO())
    assert code == EXIT_PARTIAL and (summary.ok, summary.failed) == (2, 2)
    records = lines(out)
    assert len(records) == len({r["document"] for r in records}) == 7
    assert {r["document"] for r in records if not r["ok"]} == {"empty.txt", "binary.bin"}


def test_extraction_answers_are_validated_with_their_schema(agent: Agent, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 2, extra={"bad.txt": b"BADSCHEMA"})
    out = tmp_path / "results.jsonl"
    code, _ = run_batch(
        options(agent, docs, out, ai="extraction", version="1.0"), stream=io.StringIO()
    )
    assert code == EXIT_PARTIAL
    by_name = {r["document"]: r for r in lines(out)}
    assert by_name["doc01.txt"]["result"]["schema_version"] == "extraction/v1"
    assert by_name["doc01.txt"]["result"]["spans"][0]["text"] == "D"
    assert "extraction answer does not match the schema: spans.0" in by_name["bad.txt"]["error"]


def test_a_platform_outage_is_waited_out_with_the_same_instance(
    token_file: Path, tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "in", 30)
    out = tmp_path / "results.jsonl"
    with served_agent(token_file) as (agent, server):

        def outage() -> None:  # dockerd restarts: no DNS, so neither the AI nor the agent
            server[0].stop()
            resume_ai = agent.ops.pause(agent.ops.running()[0].id)
            time.sleep(1.5)
            resume_ai()
            server[0] = server[0].again()

        agent.state.delay = 0.02
        agent.state.on_call = in_background(outage)
        code, summary = run_batch(options(agent, docs, out, concurrency=2), stream=io.StringIO())
        assert code == EXIT_OK, summary
        names = documents_in(out)
        assert len(names) == len(set(names)) == 30
        assert summary.replacements == 0 and len(agent.ops.runs) == 1
        assert agent.ops.containers == {}


def test_an_ai_dead_while_docker_restarts_is_replaced_and_removed(
    agent: Agent, tmp_path: Path
) -> None:
    docs = make_docs(tmp_path / "in", 20)
    out = tmp_path / "results.jsonl"

    def outage() -> None:  # the agent answers, Docker behind it does not (503) for a while
        agent.ops.docker_up = False
        agent.kill_first_running()
        time.sleep(1.0)
        agent.ops.docker_up = True

    agent.state.on_call = in_background(outage)
    code, summary = run_batch(options(agent, docs, out, concurrency=2), stream=io.StringIO())
    assert code == EXIT_OK, summary
    names = documents_in(out)
    assert len(names) == len(set(names)) == 20
    assert summary.replacements == 1 and len(summary.instances) == 2
    assert agent.ops.containers == {}  # the dead one too: its DELETE was retried


def test_sigterm_stops_the_batch_and_a_rerun_finishes_it(agent: Agent, tmp_path: Path) -> None:
    docs = make_docs(tmp_path / "in", 20)
    out = tmp_path / "results.jsonl"
    agent.state.delay = 0.05
    agent.state.on_call = lambda n: os.kill(os.getpid(), signal.SIGTERM) if n == 4 else None
    code, summary = run_batch(options(agent, docs, out, concurrency=2), stream=io.StringIO())
    assert code == EXIT_INTERRUPTED and summary.interrupted
    assert agent.ops.containers == {}
    partial = documents_in(out)
    assert 0 < len(partial) < 20 and len(partial) == len(set(partial))

    agent.state.on_call = None
    code, summary = run_batch(options(agent, docs, out), stream=io.StringIO())
    assert code == EXIT_OK and summary.skipped == len(partial)
    names = documents_in(out)
    assert len(names) == len(set(names)) == 20
