"""``scripts/cpu_work.py`` (make test's CPU work per step): the report's arithmetic on given
marks, and marks of this machine through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from scriptfile import load_file

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "cpu_work.py"


def mark(name: str, minute: float, busy_min: float, steal_min: float = 0.0) -> dict:
    return {"name": name, "time": minute * 60, "busy": busy_min * 60, "steal": steal_min * 60,
            "cores": 2}  # fmt: skip


def test_report_gives_each_step_and_the_floor() -> None:
    marks = [mark("start", 0, 100), mark("deploy", 10, 114), mark("lanes", 45, 181, 1)]
    assert load_file(SCRIPT).report(marks) == [
        "cpu work, deploy: 10.0 min, 14.0 CPU-min busy (1.40 of 2 cores, 0.0 stolen); "
        "floor at 2 cores: 7.0 min",
        "cpu work, lanes: 35.0 min, 67.0 CPU-min busy (1.91 of 2 cores, 1.0 stolen); "
        "floor at 2 cores: 33.5 min",
        "cpu work, all: 45.0 min, 81.0 CPU-min busy (1.80 of 2 cores, 1.0 stolen); "
        "floor at 2 cores: 40.5 min",
    ]


def test_report_needs_two_marks() -> None:
    with pytest.raises(ValueError, match="two marks"):
        load_file(SCRIPT).report([mark("start", 0, 0)])


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True)


def test_marks_this_machine_and_reports(tmp_path: Path) -> None:
    marks = tmp_path / "cpu.jsonl"
    marks.write_text("left from an earlier run\n")
    assert run(str(marks), "mark", "start", "--new").returncode == 0
    sum(i * i for i in range(2_000_000))  # some CPU work between the marks
    assert run(str(marks), "mark", "work").returncode == 0
    first, second = (json.loads(line) for line in marks.read_text().splitlines())
    assert second["busy"] > first["busy"] and second["time"] > first["time"]
    result = run(str(marks), "report")
    assert result.returncode == 0, result.stderr
    assert [line.split(":")[0] for line in result.stdout.splitlines()] == [
        "cpu work, work",
        "cpu work, all",
    ]


def test_report_of_a_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    result = run(str(tmp_path / "none.jsonl"), "report")
    assert result.returncode == 2
    assert "none.jsonl" in result.stderr and result.stdout == ""
