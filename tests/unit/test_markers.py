"""`pytest -m integration` selects exactly tests/integration, `-m "not integration"` the rest.

The repository's tests are collected once, in a child pytest with a plugin that writes each
test's markers (after every conftest marked them); the marker expressions are then evaluated
with pytest's own `-m` evaluator. One collection instead of one per expression: each imports
every test module, and six took most of this file's 55 s.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# pytest's `-m` evaluator (no public name): the same parser, so the expressions mean here what
# they mean on the command line.
from _pytest.mark.expression import Expression
from makefile import make_dry_run

REPO = Path(__file__).resolve().parents[2]

MARKS_PLUGIN = """
import json, os

def pytest_collection_finish(session):
    marks = {item.nodeid: sorted({m.name for m in item.iter_markers()}) for item in session.items}
    with open(os.environ["AIDOCK_MARKS_OUT"], "w", encoding="utf-8") as out:
        json.dump(marks, out)
"""


def has_marker(names: list[str]) -> Callable[..., bool]:
    """A matcher for ``Expression.evaluate``: true for a marker the test has (no arguments)."""

    def matches(name: str, /, **kwargs: object) -> bool:
        return not kwargs and name in names

    return matches


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], set[str]]:
    """The test files that ``pytest -m <expression>`` from the root would run."""
    folder = tmp_path_factory.mktemp("marks")
    (folder / "aidock_marks_plugin.py").write_text(MARKS_PLUGIN, encoding="utf-8")
    out = folder / "marks.json"
    env = {
        **os.environ,
        "AIDOCK_MARKS_OUT": str(out),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(folder), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "--collect-only",
            "-q",
            "-p",
            "no:cacheprovider",
            "-p",
            "aidock_marks_plugin",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    marks: dict[str, list[str]] = json.loads(out.read_text(encoding="utf-8"))

    def select(expression: str) -> set[str]:
        compiled = Expression.compile(expression)
        return {
            nodeid.split("::")[0]
            for nodeid, names in marks.items()
            if compiled.evaluate(has_marker(names))
        }

    return select


@pytest.mark.parametrize(
    ("marker", "folder"),
    [("integration", "tests/integration/"), ("not integration", "tests/unit/")],
)
def test_markers_select_by_folder(
    collected: Callable[[str], set[str]], marker: str, folder: str
) -> None:
    files = collected(marker)
    assert files, f"-m {marker!r} collected nothing"
    assert all(f.startswith(folder) for f in files), sorted(
        f for f in files if not f.startswith(folder)
    )


def test_integration_lanes_split_the_integration_tests(
    collected: Callable[[str], set[str]],
) -> None:
    """The integration lanes `make test` runs (shared and isolated side by side, then the tests
    that restart dockerd alone) select every integration test exactly once, by the Makefile's
    own marker expressions."""
    recipes = make_dry_run("integration-shared", "integration-isolated", "integration-exclusive")
    expressions = re.findall(r"pytest tests/integration .*?-m (?:\"([^\"]+)\"|(\S+))", recipes)
    lanes = [collected(quoted or bare) for quoted, bare in expressions]
    assert len(lanes) == 3, recipes
    shared, isolated, restarts = lanes
    assert restarts == {"tests/integration/test_dockerd_restart.py"}
    assert isolated == {"tests/integration/test_registry_gc.py"}
    assert shared | isolated | restarts == collected("integration")
    assert not shared & isolated and not shared & restarts and not isolated & restarts


def test_molecule_lanes_run_every_scenario() -> None:
    recipes = make_dry_run("molecule-site", "molecule-roles", "molecule-engine")
    lanes = re.findall(r"molecule test -s (\w+)", recipes)
    scenarios = {p.parent.name for p in (REPO / "molecule").glob("*/molecule.yml")}
    assert sorted(lanes) == sorted(scenarios), recipes
