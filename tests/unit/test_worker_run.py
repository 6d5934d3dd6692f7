"""``aidock worker run`` and ``AgentClient``: resume/dedup, adapters, replacement, exits.

The agent is the real app on a local werkzeug server with Docker faked: each "container"
is a fake AI served on 127.0.0.1, which ``FakeOps.kill`` really stops.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from test_agent_fakes import TOKEN, FakeAiState, FakeCatalog, FakeOps, Server

from aidock.agent.app import create_app
from aidock.agent.client import AgentClient
from aidock.agent.config import AgentConfig
from aidock.agent.errors import RegistryError
from aidock.cli import EXIT_API_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from aidock.client.http import ApiClient, ApiError
from aidock.worker.run import (
    EXIT_INTERRUPTED,
    EXIT_PARTIAL,
    BatchAborted,
    BentoAdapter,
    Document,
    DocumentError,
    InstanceHolder,
    Progress,
    ResponseInvalid,
    ResultLog,
    ResultsError,
    RunOptions,
    adapter_for,
    list_documents,
    load_results,
    run_batch,
    summary_path,
)


@dataclass
class Agent:
    url: str
    ops: FakeOps
    state: FakeAiState
    token_file: Path

    def kill_first_running(self) -> None:
        running = self.ops.running()
        if running:
            self.ops.kill(running[0].id)


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    path = tmp_path / "token"
    path.write_text(TOKEN)
    return path


@pytest.fixture
def agent(token_file: Path, wsgi_server: Any) -> Iterator[Agent]:
    config = AgentConfig(owner_id="unit", token_file=token_file, max_instances=2)
    state = FakeAiState()
    ops = FakeOps(config, serve=True, ai_state=state)
    app = create_app(config, ops=ops, catalog=FakeCatalog(), reaper=False)
    with wsgi_server(app) as url:
        yield Agent(url, ops, state, token_file)
    ops.stop_all()


def make_docs(root: Path, count: int, *, extra: dict[str, bytes] | None = None) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(count):
        folder = root / "sub" if i % 3 == 0 else root
        (folder / f"doc{i:02d}.txt").write_text(f"Document {i}. Invoices are kept {i} years.\n")
    (root / ".hidden").write_text("never sent")
    for name, data in (extra or {}).items():
        (root / name).write_bytes(data)
    return root


def options(agent: Agent, docs: Path, output: Path, **overrides: Any) -> RunOptions:
    values: dict[str, Any] = {
        "ai": "rag",
        "version": "0.1.0",
        "input": docs,
        "output": output,
        "agent_url": agent.url,
        "token": TOKEN,
        "concurrency": 3,
        "timeout": 5.0,
        "retries": 1,
        "backoff": 0.01,
    }
    values.update(overrides)
    return RunOptions(**values)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def documents_in(path: Path) -> list[str]:
    return [rec["document"] for rec in lines(path)]


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


@contextmanager
def served_agent(token_file: Path) -> Iterator[tuple[Agent, list[Server]]]:
    """An agent on its own server, which a test can stop and serve again on the same port."""
    config = AgentConfig(owner_id="unit", token_file=token_file, max_instances=2)
    state = FakeAiState()
    ops = FakeOps(config, serve=True, ai_state=state)
    app = create_app(config, ops=ops, catalog=FakeCatalog(), reaper=False)
    box = [Server(app)]
    try:
        yield Agent(f"http://127.0.0.1:{box[0].port}", ops, state, token_file), box
    finally:
        box[0].stop()
        ops.stop_all()


def in_background(action: Callable[[], None]) -> Callable[[int], None]:
    """An ``on_call`` hook running ``action`` once, beside the 5th call."""

    def hook(count: int) -> None:
        if count == 5:
            threading.Thread(target=action, daemon=True).start()

    return hook


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


def test_an_agent_that_keeps_answering_503_ends_the_wait(tmp_path: Path) -> None:
    class Refusing:
        calls = 0

        def request_instance(self, ai: str, version: str) -> Any:
            self.calls += 1
            raise ApiError(503, "the Docker daemon did not answer", None, "http://agent")

    agent = Refusing()
    holder = InstanceHolder(agent, "rag", "0.1.0", ApiClient, outage_wait=1.5)  # type: ignore[arg-type]
    with pytest.raises(BatchAborted) as info:
        holder.replace(0, "the AI died")
    assert info.value.exit_code == EXIT_UNREACHABLE and "(HTTP 503)" in info.value.message
    assert agent.calls == 2  # asked again after 1 s, not after 1 + 2 s
    with pytest.raises(BatchAborted):
        holder.acquire()  # the first request of a batch does not wait
    assert agent.calls == 3


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


# -- the command line ---------------------------------------------------------------------


def cli(agent_url: str, docs: Path, out: Path, token_file: Path, *extra: str) -> list[str]:
    return [
        "worker", "run", "--ai", "rag", "--version", "0.1.0", "--input", str(docs),
        "--output", str(out), "--agent-url", agent_url, "--token-file", str(token_file),
        "--retries", "0", *extra,
    ]  # fmt: skip


def test_cli_run_prints_a_summary(
    agent: Agent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_docs(tmp_path / "in", 4)
    out = tmp_path / "r.jsonl"
    assert main(cli(agent.url, docs, out, agent.token_file, "--concurrency", "2")) == EXIT_OK
    captured = capsys.readouterr()
    assert captured.out.startswith("documents: 4 (0 already done), ok: 4, failed: 0, time: ")
    assert f"-> {out}" in captured.out
    assert "worker: 4 documents to rag 0.1.0 (instance " in captured.err
    summary = json.loads((tmp_path / "r.jsonl.summary.json").read_text())
    assert summary["summary"] == captured.out.strip()
    assert {k: summary[k] for k in ("documents", "ok", "failed", "not_done", "exit_code")} == {
        "documents": 4,
        "ok": 4,
        "failed": 0,
        "not_done": 0,
        "exit_code": EXIT_OK,
    }
    assert summary["schema_version"] == "worker-summary/v1" and summary["aborted"] is None
    assert summary["started_at"] <= summary["finished_at"]
    assert summary["finished_at"].endswith("Z") and len(summary["instances_terminated"]) == 1
    assert not list(tmp_path.glob(".*.tmp"))  # written through a renamed temporary file


def test_cli_summary_file_carries_a_failed_run_s_exit_code(
    agent: Agent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_docs(tmp_path / "in", 2, extra={"reject.txt": b"REJECT this"})
    out = tmp_path / "r.jsonl"
    assert main(cli(agent.url, docs, out, agent.token_file)) == EXIT_PARTIAL
    summary = json.loads(summary_path(out).read_text())
    assert (summary["ok"], summary["failed"], summary["exit_code"]) == (2, 1, EXIT_PARTIAL)
    assert main(cli(agent.url, docs, out, agent.token_file)) == EXIT_OK  # all done before
    summary = json.loads(summary_path(out).read_text())
    assert (summary["already_done"], summary["exit_code"]) == (3, EXIT_OK)
    capsys.readouterr()


def test_cli_agent_unreachable(
    tmp_path: Path, token_file: Path, closed_port: int, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_docs(tmp_path / "in", 2)
    url = f"http://127.0.0.1:{closed_port}"
    assert main(cli(url, docs, tmp_path / "r.jsonl", token_file)) == EXIT_UNREACHABLE
    assert f"error: the agent at {url}/v1/instances is not reachable" in capsys.readouterr().err


def test_cli_registry_unreachable(
    agent: Agent, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    message = "the registry localhost:5000 is not reachable: connection refused"
    agent.ops.images["localhost:5000/aidock/rag:0.1.0"] = RegistryError(message)
    docs = make_docs(tmp_path / "in", 2)
    assert main(cli(agent.url, docs, tmp_path / "r.jsonl", agent.token_file)) == EXIT_UNREACHABLE
    err = capsys.readouterr().err
    assert f"error: the agent could not start rag 0.1.0 (HTTP 502): {message}" in err


@pytest.mark.parametrize(
    ("token", "ai", "code", "text"),
    [
        ("wrong-token-0123456789", "rag", EXIT_API_ERROR, "(HTTP 401): wrong bearer token"),
        (TOKEN, "ocr", EXIT_API_ERROR, "(HTTP 404): ai: unknown AI 'ocr'"),
        (TOKEN, "x/y", EXIT_API_ERROR, "(HTTP 403): ai: 'x/y' would name an image outside"),
    ],
)
def test_cli_agent_refusals(
    agent: Agent,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    token: str,
    ai: str,
    code: int,
    text: str,
) -> None:
    token_file = tmp_path / "t"
    token_file.write_text(token)
    docs = make_docs(tmp_path / "in", 1)
    args = cli(agent.url, docs, tmp_path / "r.jsonl", token_file)
    args[args.index("--ai") + 1] = ai
    assert main(args) == code
    assert text in capsys.readouterr().err


def test_cli_usage_errors(
    tmp_path: Path, token_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = make_docs(tmp_path / "in", 1)
    url = "http://127.0.0.1:9"
    assert main(cli(url, tmp_path / "nope", tmp_path / "r", token_file)) == EXIT_USAGE
    assert main(cli(url, docs, tmp_path / "r", tmp_path / "no-token")) == EXIT_USAGE
    corrupt = tmp_path / "corrupt.jsonl"
    corrupt.write_text("not json\n")
    assert main(cli(url, docs, corrupt, token_file)) == EXIT_USAGE
    err = capsys.readouterr().err
    assert "is not a directory" in err and "token_file" in err and "corrupt.jsonl:1" in err


# -- pieces -------------------------------------------------------------------------------


def test_list_documents_skips_hidden_files_and_the_output(tmp_path: Path) -> None:
    docs = make_docs(tmp_path, 4)
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    out = tmp_path / "results.jsonl"
    out.write_text("")
    summary_path(out).write_text("{}")
    names = [d.relpath for d in list_documents(docs, exclude=out)]
    assert names == ["doc01.txt", "doc02.txt", "sub/doc00.txt", "sub/doc03.txt"]


def test_load_results_rules(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    assert load_results(path) == {}
    path.write_text('{"document": "a", "ok": true}\n\n{"document": "a", "ok": false}\n')
    assert load_results(path) == {"a": {"document": "a", "ok": True}}
    path.write_text('{"document": "a"}\n{"no": "document"}\n')
    with pytest.raises(ResultsError, match=r"r\.jsonl:2 has no 'document'"):
        load_results(path)


def test_result_log_never_writes_a_document_twice(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    with ResultLog(path, {"old"}) as log:
        assert log.append({"document": "old", "ok": True}) is False
        threads = [
            threading.Thread(target=log.append, args=({"document": f"d{i % 50}", "ok": True},))
            for i in range(200)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    names = documents_in(path)
    assert sorted(names) == sorted(f"d{i}" for i in range(50))


class StubApi(ApiClient):
    def __init__(self, answer: Any) -> None:
        super().__init__("http://127.0.0.1:9")
        self.answer = answer
        self.sent: list[tuple[str, Any]] = []

    def post_json(self, path: str, payload: Any, *, idempotent: bool = False) -> Any:
        assert idempotent
        self.sent.append((path, payload))
        return self.answer


DOC = Document("a.txt", Path("a.txt"))


def test_rag_adapter_ingests_with_the_relative_path_as_id() -> None:
    api = StubApi({"collection": "batch", "documents": 1, "passages": 2})
    assert adapter_for("rag/v1").call(api, "text", DOC)["passages"] == 2
    assert api.sent == [
        (
            "/v1/collections/batch/documents",
            {"documents": [{"id": "a.txt", "text": "text", "source": "a.txt"}]},
        )
    ]
    with pytest.raises(ResponseInvalid, match="ingested 2 documents"):
        adapter_for("rag/v1").call(
            StubApi({"collection": "b", "documents": 2, "passages": 2}), "t", DOC
        )


def test_bento_adapters_validate_both_ways() -> None:
    ok = {
        "schema_version": "categorization/v1",
        "category": "invoice",
        "confidence": 0.8,
        "scores": {"invoice": 0.8},
    }
    api = StubApi(ok)
    adapter = adapter_for("categorization/v1")
    assert isinstance(adapter, BentoAdapter)
    assert adapter.call(api, "x", DOC)["category"] == "invoice"
    assert api.sent == [("/categorize", {"text": "x"})]
    with pytest.raises(DocumentError, match="non-whitespace"):
        adapter.call(api, "  ", DOC)
    with pytest.raises(ResponseInvalid, match="categorization answer"):
        adapter.call(StubApi({**ok, "schema_version": "extraction/v1"}), "x", DOC)
    with pytest.raises(LookupError, match="no call adapter for schema 'ocr/v1'"):
        adapter_for("ocr/v1")


def test_progress_on_a_terminal_and_in_logs() -> None:
    tty = io.StringIO()
    progress = Progress(3, tty, tty=True)
    for ok in (True, False, True):
        progress.update(ok)
    progress.finish()
    assert tty.getvalue().count("\r[") == 3 and "3/3 documents (1 failed)" in tty.getvalue()
    assert tty.getvalue().endswith("\n")
    plain = io.StringIO()
    progress = Progress(30, plain, tty=False)
    for _ in range(30):
        progress.update(True)
    assert plain.getvalue().count("\n") == 10 and "\r" not in plain.getvalue()


# -- AgentClient --------------------------------------------------------------------------


def test_agent_client(agent: Agent) -> None:
    client = AgentClient(agent.url, TOKEN, retries=0)
    first = client.request_instance("rag", "0.1.0")
    second = client.request_instance("rag", "0.1.0")
    assert [i.id for i in client.list()] == [first.id, second.id]
    assert client.get(first.id).endpoint == first.endpoint
    with pytest.raises(ApiError) as info:
        client.request_instance("rag", "0.1.0")
    assert info.value.status == 429 and "max_instances (2) reached" in info.value.message
    assert client.terminate(first.id) is True
    assert client.terminate(first.id, missing_ok=True) is False
    with pytest.raises(ApiError) as info:
        client.terminate(first.id)
    assert (info.value.status, info.value.field) == (404, "id")
    client.terminate(second.id)
    assert agent.ops.containers == {}
