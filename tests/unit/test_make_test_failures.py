"""`make test`'s list of what failed finds a testinfra test that failed under molecule.

Molecule prints each step's output in a border, wrapped at the terminal's width (80 columns in
CI, where there is no terminal). The Makefile runs molecule with a wider COLUMNS; here, that
width and the Makefile's FAILURE_LINES pattern meet molecule's own wrapping (its BorderedStream)
on a FAILED line as pytest prints it.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from molecule.ansi_output import AnsiOutput, BorderedStream

MAKEFILE = (Path(__file__).resolve().parents[2] / "Makefile").read_text(encoding="utf-8")
TEST_ID = (
    "molecule/site/tests/test_swarm_backend.py::test_agent_restart_mid_batch_adopts_the_service"
    "[ansible://aidock-molecule-site-3.test]"
)
FAILED = f"FAILED {TEST_ID} - AssertionError: the batch ended before the agent was back\n"


def make_variable(name: str) -> str:
    found = re.search(rf"^{name} :?= (.*)$", MAKEFILE, re.MULTILINE)
    assert found, f"{name} not set in the Makefile"
    return found.group(1)


def listed(columns: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lines of FAILED's molecule output (escapes removed) that `make test` would list."""
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    BorderedStream(AnsiOutput(), out).write(FAILED)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    pattern = re.compile(make_variable("FAILURE_LINES"))
    return [line for line in plain.splitlines() if pattern.search(line)]


def test_molecule_runs_wide_enough_to_keep_a_failed_test_id_on_one_line(monkeypatch):
    columns = re.fullmatch(r"COLUMNS=(\d+) \$\(BIN\)/molecule", make_variable("MOLECULE"))
    assert columns, "MOLECULE should be COLUMNS=<width> $(BIN)/molecule"
    (line,) = listed(int(columns.group(1)), monkeypatch)
    assert TEST_ID in line


def test_at_80_columns_the_failed_line_is_cut_and_missed(monkeypatch):
    # Why the Makefile sets the width: molecule's wrapping at 80 columns breaks the line.
    assert listed(80, monkeypatch) == []


def test_every_molecule_run_of_the_makefile_uses_the_width():
    runs = re.findall(r"^\t.*molecule\)? test\b.*$", MAKEFILE, re.MULTILINE | re.IGNORECASE)
    assert len(runs) >= 4, runs  # --all, site, the role scenarios, docker_engine
    assert all("$(MOLECULE) test" in run for run in runs), runs
