"""``aidock worker run``: the command line, its summary line and file, its exit codes.

The agent is the real app on a local werkzeug server with Docker faked (``worker_agent``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_agent_fakes import TOKEN
from worker_agent import Agent, make_docs, running_agent, write_token

from aidock.agent.errors import RegistryError
from aidock.cli import EXIT_API_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from aidock.worker.batch import EXIT_PARTIAL
from aidock.worker.results import summary_path


@pytest.fixture
def token_file(tmp_path: Path) -> Path:
    return write_token(tmp_path)


@pytest.fixture
def agent(token_file: Path, wsgi_server: Any) -> Iterator[Agent]:
    with running_agent(token_file, wsgi_server) as running:
        yield running


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
