"""The Bentos served for real: `bentoml serve <tag>` on 127.0.0.1, called over HTTP."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests
from http_bodies import long_string, padded, post_chunked, post_sized, too_large

pytest.importorskip("bentoml")
import bentoml
from starlette.testclient import TestClient

from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import generate
from aidock.ais.document import CATEGORIES, Document
from aidock.ais.extraction import ExtractionAI
from aidock.bento.body_limit import MAX_BODY_BYTES
from aidock.bento.build import BentoBuild, save_bento
from aidock.bento.service import AI_NAME_ENV, BentoIdentity, field_error, info_app
from aidock.cli import EXIT_OK, main
from aidock.schemas.bento import (
    MAX_TEXT_CHARS,
    CategorizationResponse,
    ExtractionResponse,
)
from aidock.schemas.constraints import NOT_BLANK_PATTERN
from aidock.worker.documents import EXIT_SCHEMA_MISMATCH

LOCALHOST = "127.0.0.1"
READY_TIMEOUT_S = 120.0
# One BentoML store per test session (tests/unit/conftest.py).
pytestmark = pytest.mark.usefixtures("bentoml_home")


@dataclass
class Server:
    """A `bentoml serve` process group and what it serves."""

    built: BentoBuild
    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://{LOCALHOST}:{self.port}"

    def logs(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOCALHOST, 0))
        return int(sock.getsockname()[1])


def _start(built: BentoBuild, workdir: Path) -> Server:
    """`bentoml serve TAG --port N`: no --host, so the Bento's default bind address."""
    port = _free_port()
    log = workdir / f"{built.tag.replace(':', '-')}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bentoml", "serve", built.tag, "--port", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            env=os.environ.copy(),
            start_new_session=True,  # its own process group: stopped as a whole
        )
    return Server(built, proc, port, log)


def _wait_ready(server: Server, deadline: float) -> None:
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"bentoml serve exited {server.proc.returncode}:\n{server.logs()}")
        try:
            if requests.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        except (requests.ConnectionError, requests.Timeout):
            pass  # not listening yet, or listening before its worker answers
        time.sleep(0.2)
    pytest.fail(f"{server.built.tag} not ready after {READY_TIMEOUT_S}s:\n{server.logs()}")


def _stop(server: Server) -> None:
    if server.proc.poll() is not None:
        return
    os.killpg(server.proc.pid, signal.SIGTERM)
    try:
        server.proc.wait(20)
    except subprocess.TimeoutExpired:
        os.killpg(server.proc.pid, signal.SIGKILL)
        server.proc.wait(10)


@pytest.fixture(scope="module")
def docs() -> list[Document]:
    return generate(200, 1)


@pytest.fixture(scope="module")
def servers(
    docs: list[Document], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Server]]:
    """Both AIs trained on 200 documents, built and served side by side."""
    workdir = tmp_path_factory.mktemp("serve")
    builds = [
        save_bento(ExtractionAI(n_estimators=20).train(docs)),
        save_bento(CategorizationAI().train(docs)),
    ]
    started: dict[str, Server] = {}
    try:
        for built in builds:
            started[built.tag.split(":")[0]] = _start(built, workdir)
        deadline = time.monotonic() + READY_TIMEOUT_S
        for server in started.values():
            _wait_ready(server, deadline)
        yield started
    finally:
        for server in started.values():
            _stop(server)


@pytest.fixture(scope="module")
def extraction(servers: dict[str, Server]) -> Server:
    return servers["extraction"]


@pytest.fixture(scope="module")
def categorization(servers: dict[str, Server]) -> Server:
    return servers["categorization"]


def _listening_ips(server: Server) -> set[str]:
    root = psutil.Process(server.proc.pid)
    ips: set[str] = set()
    for proc in [root, *root.children(recursive=True)]:
        for conn in proc.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == server.port:
                ips.add(conn.laddr.ip)
    return ips


def test_binds_loopback_by_default(extraction: Server, categorization: Server) -> None:
    assert _listening_ips(extraction) == {LOCALHOST}
    assert _listening_ips(categorization) == {LOCALHOST}


@pytest.mark.parametrize("path", ["/readyz", "/livez", "/healthz", "/metrics"])
def test_bentoml_endpoints(extraction: Server, path: str) -> None:
    assert requests.get(f"{extraction.url}{path}", timeout=5).status_code == 200


def test_swagger_ui_and_openapi(extraction: Server) -> None:
    page = requests.get(f"{extraction.url}/", timeout=5)
    assert page.status_code == 200
    assert "swagger" in page.text.lower()
    assert "googletagmanager" not in page.text and "validatorUrl: null" in page.text
    spec = requests.get(f"{extraction.url}/docs.json", timeout=5).json()
    assert "/extract" in spec["paths"] and "/info" in spec["paths"]
    post = spec["paths"]["/extract"]["post"]
    text = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["text"]
    assert (text["minLength"], text["maxLength"]) == (1, MAX_TEXT_CHARS)
    assert text["pattern"] == NOT_BLANK_PATTERN
    assert {"400", "413", "422"} <= set(post["responses"])


@pytest.mark.parametrize("name", ["extraction", "categorization"])
def test_info(servers: dict[str, Server], name: str) -> None:
    server = servers[name]
    info = requests.get(f"{server.url}/info", timeout=5).json()
    assert info["name"] == name
    assert info["version"] == "1"
    assert info["schema_version"] == server.built.schema_version == f"{name}/v1"
    assert info["model_sha256"] == server.built.model_sha256
    assert info["bento_tag"] == server.built.tag


IDENTITY = BentoIdentity(
    name="categorization", version="1", schema_version="categorization/v1",
    model_sha256="0" * 64, model_tag="categorization:abc", bento_tag="categorization:def",
    aidock_version="0.1.0",
)  # fmt: skip


@pytest.mark.parametrize(
    ("env", "name"),
    [(None, "categorization"), ("", "categorization"), ("invoice-sorter", "invoice-sorter")],
    ids=["unset", "empty", "imported-under-another-name"],
)
def test_info_names_the_deployed_name(
    monkeypatch: pytest.MonkeyPatch, env: str | None, name: str
) -> None:
    if env is None:
        monkeypatch.delenv(AI_NAME_ENV, raising=False)
    else:
        monkeypatch.setenv(AI_NAME_ENV, env)
    info = TestClient(info_app(IDENTITY)).get("/info").json()
    assert info == {**IDENTITY.as_dict(), "name": name}
    assert info["bento_tag"] == "categorization:def"  # still the Bento it was built from


def test_extract_with_requests(extraction: Server) -> None:
    invoice = next(d for d in generate(50, 9) if d.category == "invoice")
    resp = requests.post(f"{extraction.url}/extract", json={"text": invoice.text}, timeout=10)
    assert resp.status_code == 200, resp.text
    answer = ExtractionResponse.model_validate(resp.json())
    assert answer.spans, "an invoice has fields"
    for span in answer.spans:
        assert invoice.text[span.start : span.end] == span.text
    assert {s.label for s in answer.spans} & {f.label for f in invoice.fields}


def test_categorize_with_requests(categorization: Server) -> None:
    doc = generate(5, 11)[0]
    resp = requests.post(f"{categorization.url}/categorize", json={"text": doc.text}, timeout=10)
    assert resp.status_code == 200, resp.text
    answer = CategorizationResponse.model_validate(resp.json())
    assert answer.category in CATEGORIES
    assert sum(answer.scores.values()) == pytest.approx(1.0, abs=1e-3)


def test_bentoml_client(extraction: Server, categorization: Server) -> None:
    text = generate(1, 3)[0].text
    with bentoml.SyncHTTPClient(extraction.url) as client:
        ExtractionResponse.model_validate(client.extract(text=text))
        with pytest.raises(bentoml.exceptions.BentoMLException) as err:
            client.extract(text="   ")
        assert err.value.error_code == 422
        assert "text:" in str(err.value)
    with bentoml.SyncHTTPClient(categorization.url) as client:
        assert CategorizationResponse.model_validate(client.categorize(text=text)).category


@pytest.mark.parametrize(
    ("body", "status", "field", "message"),
    [
        ({}, 422, "text", "text: Field required"),
        ({"text": 42}, 422, "text", "text: Input should be a valid string"),
        ({"text": ""}, 422, "text", "text: "),
        ({"text": " \n\t"}, 422, "text", "non-whitespace"),
        ({"text": "x" * (MAX_TEXT_CHARS + 1)}, 422, "text", f"at most {MAX_TEXT_CHARS}"),
        ({"text": "ok", "lang": "de"}, 422, "lang", "lang: Extra inputs are not permitted"),
        (["text"], 422, None, "request body: "),
        ("{not json", 400, None, "Invalid JSON"),
    ],
)
def test_bad_payloads_name_the_field(
    servers: dict[str, Server], body: Any, status: int, field: str | None, message: str
) -> None:
    for server, route in ((servers["extraction"], "/extract"),
                          (servers["categorization"], "/categorize")):  # fmt: skip
        data = body if isinstance(body, str) else json.dumps(body)
        resp = requests.post(
            f"{server.url}{route}",
            data=data,
            headers={"Content-Type": "application/json"},
            timeout=10,
        )
        assert resp.status_code == status, resp.text
        error = resp.json()
        assert error["field"] == field
        assert message in error["error"]
        assert all("url" not in d for d in error["detail"])


@pytest.mark.parametrize(
    ("name", "route"), [("extraction", "/extract"), ("categorization", "/categorize")]
)
def test_bodies_over_the_limit_are_413_chunked_or_not(
    servers: dict[str, Server], name: str, route: str
) -> None:
    url, doc = servers[name].url, {"text": generate(1, 3)[0].text}
    for chunks in (long_string("text", 4 * MAX_BODY_BYTES), padded(doc, MAX_BODY_BYTES + 1)):
        assert post_chunked(url, route, chunks) == (413, too_large(MAX_BODY_BYTES))
    resp = post_sized(url, route, b"".join(padded(doc, MAX_BODY_BYTES + 1)))
    assert (resp.status_code, resp.json()) == (413, too_large(MAX_BODY_BYTES))
    status, answer = post_chunked(url, route, padded(doc, MAX_BODY_BYTES))
    assert status == 200, answer


def test_field_error_leaves_other_answers_alone() -> None:
    assert field_error({"error": "boom"}) is None
    assert field_error([{"error": "x"}]) is None
    assert field_error({"error": "x", "detail": []}) is None


def test_worker_against_the_services(
    extraction: Server,
    categorization: Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    files = []
    for i, doc in enumerate(generate(3, 5)):
        path = tmp_path / f"doc{i}.txt"
        path.write_text(doc.text, encoding="utf-8")
        files.append(str(path))
    assert main(["worker", "extract", *files, "--url", extraction.url, "--json"]) == EXIT_OK
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [line.pop("file") for line in lines] == files
    for line in lines:
        ExtractionResponse.model_validate(line)
    assert main(["worker", "categorize", *files, "--url", categorization.url]) == EXIT_OK
    out = capsys.readouterr().out.splitlines()
    assert [line.split(":")[0] for line in out] == files
    # The categorization worker refuses the extraction service: wrong schema version.
    code = main(["worker", "categorize", files[0], "--url", extraction.url])
    assert code == EXIT_SCHEMA_MISMATCH
    assert "extraction/v1" in capsys.readouterr().err
