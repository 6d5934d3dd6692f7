"""`aidock worker extract|categorize` against stand-in HTTP services (no BentoML needed).

The real services are exercised in test_bento_service.py; here a plain ``http.server``
plays a document AI so that every error path (schema mismatch, API error, unreachable,
answers off-schema) can be produced on demand.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any, ClassVar

import pytest
from jsonhttp import JsonHandler

from aidock.cli import EXIT_API_ERROR, EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, main
from aidock.worker.documents import EXIT_SCHEMA_MISMATCH, JOBS

EXTRACTED = {
    "schema_version": "extraction/v1",
    "spans": [
        {"label": "invoice_number", "start": 8, "end": 14, "text": "INV-42", "confidence": 0.9}
    ],
}
CATEGORIZED = {
    "schema_version": "categorization/v1",
    "category": "invoice",
    "confidence": 0.8,
    "scores": {"invoice": 0.8, "claim": 0.2},
}


class FakeAI(JsonHandler):
    """Answers ``GET /info`` and ``POST /extract|/categorize`` from class attributes."""

    info: ClassVar[tuple[int, Any]] = (200, {"schema_version": "extraction/v1"})
    answers: ClassVar[dict[str, tuple[int, Any]]] = {}
    received: ClassVar[list[Any]] = []

    def do_GET(self) -> None:
        self._send(*self.info) if self.path == "/info" else self._send(404, {"error": "no"})

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).received.append((self.path, body))
        if body["text"] == "BAD":
            self._send(422, {"error": "text: too bad", "field": "text"})
        elif self.path in self.answers:
            self._send(*self.answers[self.path])
        else:
            self._send(404, {"error": f"no route {self.path}"})


Serve = Callable[[type[BaseHTTPRequestHandler]], AbstractContextManager[str]]


@pytest.fixture(autouse=True)
def _no_url_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for job in JOBS.values():
        monkeypatch.delenv(job.url_env, raising=False)


@pytest.fixture
def fake(http_server: Serve) -> Iterator[tuple[type[FakeAI], str]]:
    class AI(FakeAI):
        info = (200, {"name": "extraction", "schema_version": "extraction/v1"})
        answers: ClassVar[dict[str, tuple[int, Any]]] = {
            "/extract": (200, EXTRACTED),
            "/categorize": (200, CATEGORIZED),
        }
        received: ClassVar[list[Any]] = []

    with http_server(AI) as url:
        yield AI, url


@pytest.fixture
def files(tmp_path: Path) -> list[str]:
    paths = []
    for name, text in (("a.txt", "Invoice INV-42"), ("b.txt", "Rechnung Nr. 7")):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        paths.append(str(path))
    return paths


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    out, err = capsys.readouterr()
    return code, out, err


def test_extract_prints_one_json_object_per_file(
    fake: tuple[type[FakeAI], str], files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ai, url = fake
    code, out, err = run(["worker", "extract", *files, "--url", url, "--json"], capsys)
    assert code == EXIT_OK, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines == [{"file": f, **EXTRACTED} for f in files]
    assert ai.received == [("/extract", {"text": "Invoice INV-42"}),
                           ("/extract", {"text": "Rechnung Nr. 7"})]  # fmt: skip


def test_summaries_without_json(
    fake: tuple[type[FakeAI], str], files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ai, url = fake
    code, out, _ = run(["worker", "extract", files[0], "--url", url], capsys)
    assert code == EXIT_OK
    assert out == f"{files[0]}: invoice_number='INV-42' (0.90)\n"
    ai.info = (200, {"schema_version": "categorization/v1"})
    code, out, _ = run(["worker", "categorize", files[0], "--url", url], capsys)
    assert code == EXIT_OK
    assert out == f"{files[0]}: invoice (0.80)\n"


def test_url_from_environment(
    fake: tuple[type[FakeAI], str],
    files: list[str],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("AIDOCK_EXTRACTION_URL", fake[1])
    assert run(["worker", "extract", files[0]], capsys)[0] == EXIT_OK


@pytest.mark.parametrize(
    ("info", "expected"),
    [
        (
            (200, {"schema_version": "categorization/v1"}),
            "serves schema 'categorization/v1', this worker speaks 'extraction/v1'",
        ),
        ((200, {"schema_version": "extraction/v2"}), "unknown schema version 'extraction/v2'"),
        ((200, {"name": "extraction"}), "declares no schema_version"),
        ((404, {"error": "not found"}), "does not declare its schema version"),
    ],
)
def test_schema_mismatch_exits_5_before_sending(
    fake: tuple[type[FakeAI], str],
    files: list[str],
    capsys: pytest.CaptureFixture[str],
    info: tuple[int, Any],
    expected: str,
) -> None:
    ai, url = fake
    ai.info = info
    code, out, err = run(["worker", "extract", *files, "--url", url], capsys)
    assert code == EXIT_SCHEMA_MISMATCH
    assert expected in err
    assert not out
    assert ai.received == []


def test_answer_off_schema_exits_5(
    fake: tuple[type[FakeAI], str], files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    ai, url = fake
    ai.answers = {"/extract": (200, {"schema_version": "extraction/v1", "spans": [{"x": 1}]})}
    code, _, err = run(["worker", "extract", files[0], "--url", url], capsys)
    assert code == EXIT_SCHEMA_MISMATCH
    assert "does not match extraction/v1" in err


def test_api_error_on_one_file_exits_4_after_the_others(
    fake: tuple[type[FakeAI], str],
    files: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("BAD", encoding="utf-8")
    args = ["worker", "extract", str(bad), *files, "--url", fake[1], "--json"]
    code, out, err = run(args, capsys)
    assert code == EXIT_API_ERROR
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0] == {"file": str(bad), "error": "text: too bad", "status": 422}
    assert [line["file"] for line in lines[1:]] == files
    assert "answered 422: text: too bad" in err


def test_unreachable_exits_3(
    closed_port: int, files: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"http://127.0.0.1:{closed_port}"
    code, _, err = run(["worker", "categorize", *files, "--url", url, "--retries", "0"], capsys)
    assert code == EXIT_UNREACHABLE
    assert "is not reachable" in err


def test_unreadable_file_is_a_usage_error(
    fake: tuple[type[FakeAI], str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ai, url = fake
    code, _, err = run(["worker", "extract", str(tmp_path / "absent.txt"), "--url", url], capsys)
    assert code == EXIT_USAGE
    assert "cannot read" in err
    binary = tmp_path / "scan.pdf"
    binary.write_bytes(b"%PDF\xff\xfe")
    assert run(["worker", "extract", str(binary), "--url", url], capsys)[0] == EXIT_USAGE
    assert ai.received == []
