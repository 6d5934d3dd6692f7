"""`pytest -m integration` selects exactly tests/integration, `-m "not integration"` the rest."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def collected(marker: str) -> list[str]:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-m",
            marker,
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return [line.split("::")[0] for line in done.stdout.splitlines() if "::" in line]


def make_dry_run(*targets: str) -> str:
    """The commands `make` would run for ``targets`` (``make -n``)."""
    return subprocess.run(
        ["make", "-n", "--no-print-directory", *targets],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@pytest.mark.parametrize(
    ("marker", "folder"),
    [("integration", "tests/integration/"), ("not integration", "tests/unit/")],
)
def test_markers_select_by_folder(marker: str, folder: str) -> None:
    files = set(collected(marker))
    assert files, f"-m {marker!r} collected nothing"
    assert all(f.startswith(folder) for f in files), sorted(
        f for f in files if not f.startswith(folder)
    )


def test_integration_lanes_split_the_integration_tests() -> None:
    """The integration lanes `make test` runs (shared and isolated side by side, then the tests
    that restart dockerd alone) select every integration test exactly once, by the Makefile's
    own marker expressions."""
    recipes = make_dry_run("integration-shared", "integration-isolated", "integration-exclusive")
    expressions = re.findall(r"pytest tests/integration -q -m (?:\"([^\"]+)\"|(\S+))", recipes)
    lanes = [set(collected(quoted or bare)) for quoted, bare in expressions]
    assert len(lanes) == 3, recipes
    shared, isolated, restarts = lanes
    assert restarts == {"tests/integration/test_dockerd_restart.py"}
    assert isolated == {"tests/integration/test_registry_gc.py"}
    assert shared | isolated | restarts == set(collected("integration"))
    assert not shared & isolated and not shared & restarts and not isolated & restarts


def test_molecule_lanes_run_every_scenario() -> None:
    recipes = make_dry_run("molecule-site", "molecule-roles")
    lanes = re.findall(r"molecule test -s (\w+)", recipes)
    scenarios = {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")}
    assert sorted(lanes) == sorted(scenarios), recipes
