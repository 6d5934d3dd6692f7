"""Property-based tests of the deployed services against their own OpenAPI documents (issue 15).

Each case is one ``st run`` (schemathesis' CLI, every check) against a service `make deploy`
runs on this host: the RAG AI, the agent and the extraction Bento. It passes with zero 5xx
and zero spec violations: no answer outside the document (status, content type, body
schema), no schema-valid request refused, no invalid request accepted, the agent's bearer
token enforced. Bounded: ``MAX_EXAMPLES`` per operation and phase, one worker, a timeout
per request and per run. The count of test cases is asserted so an empty run cannot pass.

``POST /v1/instances`` is fuzzed with invalid bodies only (a valid one would start a real
container per example): each is refused before the catalog is asked, and the test checks
that the agent holds no more containers afterwards. ``fuzz_hooks`` keeps out of the RAG AI's
ingests the one rule a JSON Schema cannot state (two different documents with one id).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import docker
import pytest
import requests
from conftest import RAG_URL, SECRETS

from aidock.agent import OWNER_LABEL

HERE = Path(__file__).resolve().parent
ST = Path(sys.executable).with_name("st")
AGENT_URL = "http://127.0.0.1:8700"
EXTRACTION_URL = "http://127.0.0.1:3001"
MAX_EXAMPLES = int(os.environ.get("AIDOCK_FUZZ_EXAMPLES", "100"))
RUN_TIMEOUT_S = 900
REQUEST_TIMEOUT_S = 30
CREATE = "POST /v1/instances"


@dataclass(frozen=True)
class Target:
    """One ``st run``: the document's URL and what else to pass."""

    spec: str
    args: tuple[str, ...] = ()
    auth: bool = False
    min_cases: int = 100
    env: dict[str, str] = field(default_factory=dict)


TARGETS = {
    "rag": Target(
        f"{RAG_URL}/openapi.json",
        env={"SCHEMATHESIS_HOOKS": "fuzz_hooks", "PYTHONPATH": str(HERE)},
    ),
    "agent": Target(f"{AGENT_URL}/openapi.json", ("--exclude-name", CREATE), auth=True),
    "agent-create-invalid": Target(
        f"{AGENT_URL}/openapi.json",
        ("--include-name", CREATE, "--mode", "negative", "--phases", "coverage,fuzzing"),
        auth=True,
        min_cases=30,
    ),
    "extraction": Target(f"{EXTRACTION_URL}/docs.json"),
}


def _agent_token() -> str:
    return (SECRETS / "agent.token").read_text().strip()


def _owned_containers() -> set[str]:
    client = docker.from_env()
    try:
        return {c.name for c in client.containers.list(all=True, filters={"label": OWNER_LABEL})}
    finally:
        client.close()


def st_run(target: Target, workdir: Path) -> tuple[dict[str, Any], str]:
    """Run schemathesis on ``target``; its JSON report and its console output."""
    args = [
        str(ST), "run", target.spec, "--checks", "all", "--max-examples", str(MAX_EXAMPLES),
        "--workers", "1", "--request-timeout", str(REQUEST_TIMEOUT_S), "--max-failures", "20",
        "--generation-database", "none", "--no-color", "--report", "json",
        "--report-json-path", str(workdir / "report.json"), *target.args,
    ]  # fmt: skip
    if target.auth:
        args += ["--header", f"Authorization: Bearer {_agent_token()}"]
    env = {**os.environ, **target.env}
    done = subprocess.run(
        args, cwd=workdir, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )
    output = done.stdout + done.stderr
    report_file = workdir / "report.json"
    assert report_file.is_file(), f"st run wrote no report (rc {done.returncode}):\n{output}"
    return json.loads(report_file.read_text()), output


@pytest.mark.parametrize("name", list(TARGETS))
def test_no_5xx_and_no_spec_violation(name: str, tmp_path: Path) -> None:
    target = TARGETS[name]
    before = _owned_containers() if target.auth else set()
    report, output = st_run(target, tmp_path)
    cases = report["test_cases"]
    summary = f"{name}: {cases['generated']} test cases, seed {report['seed']}"
    print(summary)
    assert report["exit_code"] == 0 and not report["failures"] and not report["errors"], (
        f"{summary}\n{output[-12000:]}"
    )
    assert report["operations"]["tested"] == report["operations"]["selected"] > 0, output
    assert cases["generated"] >= target.min_cases, summary
    if target.auth:  # nothing started, nothing left behind
        assert _owned_containers() <= before


def test_the_documents_are_served_whole() -> None:
    """The checks above read what the services serve: the constraints are in it."""
    rag = requests.get(f"{RAG_URL}/openapi.json", timeout=10).json()
    metadata = rag["components"]["schemas"]["DocumentIn"]["properties"]["metadata"]
    assert metadata["propertyNames"]["pattern"]
    bento = requests.get(f"{EXTRACTION_URL}/docs.json", timeout=10).json()
    post = bento["paths"]["/extract"]["post"]
    text = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["text"]
    assert text["minLength"] == 1 and "422" in post["responses"]
    agent = requests.get(f"{AGENT_URL}/openapi.json", timeout=10).json()
    assert {"/v1/ais", "/v1/ais/{name}", "/docs"} <= set(agent["paths"])
