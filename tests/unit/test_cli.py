"""The aidock CLI and the container health check, against a real local werkzeug server."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aidock import healthcheck
from aidock.cli import EXIT_API_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from aidock.rag.app import create_app
from aidock.rag.config import RagConfig
from aidock.rag.documents import load_directory, split_passages
from aidock.worker.rag import batches, format_answer

DOCS_DIR = Path(__file__).resolve().parents[2] / "data" / "docs"


@pytest.fixture
def rag_url(make_app: Any, wsgi_server: Any) -> Iterator[str]:
    with wsgi_server(make_app()) as url:
        yield url


@pytest.fixture
def ingested_url(rag_url: str, capsys: pytest.CaptureFixture[str]) -> str:
    assert main(["worker", "rag", "ingest", str(DOCS_DIR), "--url", rag_url]) == EXIT_OK
    capsys.readouterr()
    return rag_url


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_ingest_prints_counts(rag_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    docs = load_directory(DOCS_DIR)
    passages = sum(len(split_passages(d["text"])) for d in docs)
    code, out, err = run(["worker", "rag", "ingest", str(DOCS_DIR), "--url", rag_url], capsys)
    assert (code, err) == (EXIT_OK, "")
    assert out.strip() == (
        f"ingested {len(docs)} documents ({passages} passages) into collection 'docs' at {rag_url}"
    )


def test_ask_prints_answer_then_sources(
    ingested_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        ["worker", "rag", "ask", "How long are invoices retained?", "--url", ingested_url],
        capsys,
    )
    assert code == EXIT_OK
    lines = out.splitlines()
    assert "ten years" in lines[0]
    assert lines[2] == "Sources:"
    assert len(lines) == 6
    assert lines[3].startswith("  [0.")
    assert "] invoice-processing-guideline.txt: " in lines[3]


def test_ask_json_and_options(
    ingested_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIDOCK_RAG_URL", ingested_url)  # default --url
    args = ["worker", "rag", "ask", "How long must a password be?", "--json", "--top-k", "2"]
    code, out, _ = run([*args, "--collection", "docs"], capsys)
    assert code == EXIT_OK
    body = json.loads(out)
    assert body["mode"] == "offline"
    assert len(body["sources"]) == 2
    assert "14 characters" in body["answer"]


def test_api_errors_exit_4_with_server_message(
    ingested_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["worker", "rag", "ask", "--url", ingested_url]
    code, out, err = run([*base, "Anyone?", "--collection", "nope-1"], capsys)
    assert (code, out) == (EXIT_API_ERROR, "")
    assert err.strip() == (
        "error: the RAG AI answered 404: collection 'nope-1' does not exist; "
        "ingest documents into it first"
    )
    code, _, err = run([*base, "  "], capsys)
    assert code == EXIT_API_ERROR
    assert "question: String should contain at least one non-whitespace character" in err


def test_unreachable_exits_3(closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    code, out, err = run(["worker", "rag", "ask", "hi", "--url", url, "--retries", "0"], capsys)
    assert (code, out) == (EXIT_UNREACHABLE, "")
    assert err.startswith(f"error: the RAG AI at {url} is not reachable: ")
    code, _, err = run(
        ["worker", "rag", "ingest", str(DOCS_DIR), "--url", url, "--retries", "0"], capsys
    )
    assert code == EXIT_UNREACHABLE
    assert "is not reachable" in err


@pytest.mark.parametrize(
    "args",
    [
        [],
        ["worker"],
        ["worker", "rag"],
        ["worker", "rag", "ask"],
        ["worker", "rag", "ask", "q", "--top-k", "0"],
        ["worker", "rag", "ask", "q", "--top-k", "21"],
        ["worker", "rag", "ask", "q", "--timeout", "-1"],
        ["worker", "rag", "ask", "q", "--retries", "x"],
        ["nonsense"],
    ],
)
def test_usage_errors_exit_2(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(args, capsys)
    assert code == EXIT_USAGE
    assert "usage: aidock" in err
    assert out == ""


def test_ingest_bad_directory_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["worker", "rag", "ingest", str(tmp_path / "absent")], capsys)
    assert code == EXIT_USAGE
    assert "cannot read" in err
    code, _, err = run(["worker", "rag", "ingest", str(tmp_path)], capsys)
    assert code == EXIT_USAGE
    assert "no .txt or .md files" in err


def test_help_explains_subcommands(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(["--help"], capsys)
    assert code == EXIT_OK
    assert "worker" in out and "Exit codes" in out
    _, out, _ = run(["worker", "rag", "--help"], capsys)
    assert "ask the RAG AI questions" in out or "ask a question" in out
    assert "ingest a directory" in out
    _, out, _ = run(["worker", "rag", "ask", "--help"], capsys)
    assert "--top-k" in out and "--json" in out and "AIDOCK_RAG_URL" in out


def test_bento_help_explains_import_and_remove(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = run(["bento", "--help"], capsys)
    assert "import" in out and "remove" in out
    _, out, _ = run(["bento", "import", "--help"], capsys)
    assert "pushes it as <registry>/aidock/<name>:<version>" in " ".join(out.split())
    assert "--deploy" in out and "--context-only DIR" in out and "--version TAG" in out
    _, out, _ = run(["bento", "remove", "--help"], capsys)
    assert "playbooks/registry_gc.yml" in " ".join(out.split())


@pytest.mark.parametrize(
    "args",
    [
        ["bento", "remove"],
        ["bento", "remove", "Bad_Name"],
        ["bento", "remove", "x", "--version", "a b"],
    ],
)
def test_bento_remove_usage_errors_exit_2(
    args: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run(args, capsys)
    assert code == EXIT_USAGE
    assert "usage: aidock bento remove" in err
    assert out == ""


def test_cli_does_not_load_the_service_stack() -> None:
    code = (
        "import sys; from aidock.cli import build_parser; build_parser();"
        "heavy = {'chromadb', 'flask', 'numpy'} & set(sys.modules); print(sorted(heavy))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_batches_respect_count_and_size() -> None:
    docs = [{"id": str(i), "text": "x" * 100} for i in range(10)]
    assert [len(b) for b in batches(docs, max_docs=4)] == [4, 4, 2]  # type: ignore[arg-type]
    assert [len(b) for b in batches(docs, max_bytes=300)] == [2] * 5  # type: ignore[arg-type]
    huge = [{"id": "h", "text": "y" * 1000}]
    assert list(batches(huge, max_bytes=10)) == [huge]  # type: ignore[arg-type]


def test_format_answer_without_sources() -> None:
    assert format_answer({"answer": "No.", "sources": []}) == "No.\n\nSources: none"


# --- healthcheck ----------------------------------------------------------------------


def test_healthcheck(rag_url: str, closed_port: int, capsys: pytest.CaptureFixture[str]) -> None:
    assert healthcheck.main([f"{rag_url}/healthz"]) == 0
    assert healthcheck.main([f"{rag_url}/readyz", "--timeout", "2"]) == 0
    assert healthcheck.main([f"{rag_url}/missing"]) == 1
    assert "answered 404" in capsys.readouterr().err
    assert healthcheck.main([f"http://127.0.0.1:{closed_port}/healthz"]) == 1
    assert "not reachable" in capsys.readouterr().err
    assert healthcheck.main([]) == 1


@pytest.mark.parametrize("answer", [b"", b"SSH-2.0-OpenSSH_9.2\r\n", b"HTTP/1.0 abc\r\n"])
def test_healthcheck_needs_an_http_status_line(
    answer: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    """A port that answers something else than HTTP (or closes at once) is unhealthy."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            conn.recv(1024)
            conn.sendall(answer)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    try:
        assert healthcheck.main([f"http://127.0.0.1:{port}/readyz", "--timeout", "2"]) == 1
    finally:
        thread.join(5)
        server.close()
    assert "answered no HTTP status line" in capsys.readouterr().err
    assert healthcheck.main(["https://127.0.0.1:1/readyz"]) == 1
    assert "not an http:// URL" in capsys.readouterr().err


def test_healthcheck_through_a_unix_socket(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """--unix-socket: the GET of the URL's path goes to the socket (the policy proxy's check)."""
    path = tmp_path / "proxy.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(str(path))
    server.listen()
    requests: list[bytes] = []

    def serve() -> None:
        for _ in range(2):
            conn, _ = server.accept()
            with conn:
                request = conn.recv(1024)
                requests.append(request)
                ok = request.startswith(b"GET /_ping HTTP/1.0\r\n")
                conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nOK" if ok else b"HTTP/1.0 403 No\r\n\r\n")

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        argv = ["--unix-socket", str(path), "--timeout", "2"]
        assert healthcheck.main(["http://docker/_ping", *argv]) == 0
        assert healthcheck.main(["http://docker/containers/json", *argv]) == 1
        assert f"http://docker/containers/json on {path} answered 403" in capsys.readouterr().err
    finally:
        thread.join(5)
        server.close()
    assert b"\r\nHost: docker\r\n" in requests[0]
    missing = tmp_path / "none.sock"
    assert healthcheck.main(["http://docker/_ping", "--unix-socket", str(missing)]) == 1
    assert f"on {missing} is not reachable" in capsys.readouterr().err


def test_healthcheck_not_ready_is_unhealthy(tmp_path: Path, wsgi_server: Any) -> None:
    app = create_app(RagConfig(data_dir=tmp_path / "db"), init="manual")
    with wsgi_server(app) as url:
        assert healthcheck.main([f"{url}/readyz"]) == 1
        proc = subprocess.run(
            [sys.executable, "-m", "aidock.healthcheck", f"{url}/healthz", "--timeout", "2"],
            capture_output=True,
            check=False,
        )
        assert proc.returncode == 0
