"""`make test`'s list of what failed finds a testinfra test that failed under molecule.

Molecule prints each step's output in a border, wrapped at the terminal's width (80 columns in
CI, where there is no terminal). The Makefile runs molecule with a wider COLUMNS; here, that
width and the FAILURE_LINES pattern, as make expands them (tests/unit/makefile.py), meet
molecule's own wrapping (its BorderedStream) on a FAILED line as pytest prints it.
"""

from __future__ import annotations

import io
import re

import pytest
from makefile import make_dry_run, make_variable
from molecule.ansi_output import AnsiOutput, BorderedStream

MOLECULE_TARGETS = ("molecule", "molecule-site", "molecule-roles", "molecule-engine")
TEST_ID = (
    "molecule/site/tests/test_swarm_backend.py::test_agent_restart_mid_batch_adopts_the_service"
    "[ansible://aidock-molecule-site-3.test]"
)
FAILED = f"FAILED {TEST_ID} - AssertionError: the batch ended before the agent was back\n"


def molecule_runs() -> list[str]:
    """Each molecule run the Makefile's molecule targets would make (``make -n``)."""
    commands = make_dry_run(*MOLECULE_TARGETS).replace(" && ", "\n").splitlines()
    return [command for command in commands if "molecule test" in command]


def listed(columns: int, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The lines of FAILED's molecule output (escapes removed) that `make test` would list."""
    monkeypatch.setenv("COLUMNS", str(columns))
    out = io.StringIO()
    BorderedStream(AnsiOutput(), out).write(FAILED)
    plain = re.sub(r"\x1b\[[0-9;]*m", "", out.getvalue())
    pattern = re.compile(make_variable("FAILURE_LINES"))
    return [line for line in plain.splitlines() if pattern.search(line)]


def test_molecule_runs_wide_enough_to_keep_a_failed_test_id_on_one_line(monkeypatch):
    (width,) = set(re.findall(r"^COLUMNS=(\d+) ", "\n".join(molecule_runs()), re.MULTILINE))
    (line,) = listed(int(width), monkeypatch)
    assert TEST_ID in line


def test_at_80_columns_the_failed_line_is_cut_and_missed(monkeypatch):
    # Why the Makefile sets the width: molecule's wrapping at 80 columns breaks the line.
    assert listed(80, monkeypatch) == []


def test_every_molecule_run_of_the_makefile_uses_the_width():
    runs = molecule_runs()
    assert len(runs) >= 6, runs  # --all, site, the three role scenarios, docker_engine
    assert all(re.match(r"COLUMNS=\d+ \S*molecule test ", run) for run in runs), runs
