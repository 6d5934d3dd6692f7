"""``scripts/batch.py`` (``make batch``): the exit status is the worker's, whatever happened to
``docker compose run``. Docker is a fake executable here; the real run is in
tests/integration/test_dockerd_restart.py."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "batch.py"
LINE = "documents: 300 (0 already done), ok: 300, failed: 0, time: 9.0s, 33.3 docs/s -> /o.jsonl"

FAKE_DOCKER = """\
import json, sys
from datetime import UTC, datetime
from pathlib import Path

scenario_path = Path(sys.argv[0]).with_name("scenario.json")
scenario = json.loads(scenario_path.read_text())
args = sys.argv[1:]
with open(scenario_path.with_name("calls.log"), "a") as log:
    log.write(" ".join(args) + "\\n")


def summary(code):
    now = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    record = {"exit_code": code, "finished_at": scenario.get("finished_at") or now,
              "summary": scenario["line"]}
    Path(scenario["summary"]).write_text(json.dumps(record))


if args[0] == "compose":
    if scenario.get("summary_by_compose") is not None:
        summary(scenario["summary_by_compose"])
        print(scenario["line"])
    sys.exit(scenario["compose_rc"])
if args[0] == "version":
    print("26.1.5")
    sys.exit(0)
if args[:2] == ["container", "inspect"]:
    sys.exit(0 if scenario.get("running") else 1)
if args[0] == "wait":
    scenario["running"] = False
    scenario_path.write_text(json.dumps(scenario))
    if scenario.get("summary_on_wait") is not None:
        summary(scenario["summary_on_wait"])
    print(scenario["wait_code"])
    sys.exit(0)
sys.exit(99)
"""


def run(tmp_path: Path, **scenario: Any) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    fake = tmp_path / "docker"
    fake.write_text(f"#!{sys.executable}\n{FAKE_DOCKER}")
    fake.chmod(0o755)
    summary = tmp_path / "out.jsonl.summary.json"
    (tmp_path / "scenario.json").write_text(
        json.dumps({"summary": str(summary), "line": LINE, **scenario})
    )
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--project", "/srv/agent", "--summary", str(summary),
         "--", "run", "--ai", "extraction", "--output", "/output/out.jsonl"],
        env={"DOCKER": str(fake), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    calls = (tmp_path / "calls.log").read_text().splitlines()
    return done, calls


def test_a_clean_run_passes_the_worker_s_status_through(tmp_path: Path) -> None:
    done, calls = run(tmp_path, compose_rc=0, summary_by_compose=0)
    assert done.returncode == 0
    assert calls[0].startswith("compose -f /srv/agent/compose.yaml run --rm -T --name ")
    assert calls[0].endswith(" worker run --ai extraction --output /output/out.jsonl")
    assert len(calls) == 1  # nothing else to ask


def test_compose_losing_the_container_waits_for_the_worker_and_takes_its_status(
    tmp_path: Path,
) -> None:
    done, calls = run(tmp_path, compose_rc=125, running=True, wait_code=0, summary_on_wait=0)
    assert done.returncode == 0, done.stderr
    name = calls[0].split("--name ")[1].split()[0]
    assert f"wait {name}" in calls
    assert done.stdout.strip() == LINE
    assert "docker compose run exited 125, the worker 0" in done.stderr


def test_a_worker_failure_stays_a_failure(tmp_path: Path) -> None:
    done, _ = run(tmp_path, compose_rc=1, summary_by_compose=1)
    assert done.returncode == 1 and done.stdout.strip() == LINE  # printed once, by the worker


def test_the_worker_s_status_when_compose_lost_it_and_it_already_ended(tmp_path: Path) -> None:
    done, _ = run(tmp_path, compose_rc=125, summary_by_compose=3)
    assert done.returncode == 3


def test_a_summary_from_an_earlier_run_does_not_count(tmp_path: Path) -> None:
    done, _ = run(
        tmp_path, compose_rc=125, summary_by_compose=0, finished_at="2000-01-01T00:00:00Z"
    )
    assert done.returncode == 125


def test_without_a_summary_the_container_s_own_status_counts(tmp_path: Path) -> None:
    done, _ = run(tmp_path, compose_rc=125, running=True, wait_code=137)
    assert done.returncode == 137
