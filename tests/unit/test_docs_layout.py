"""The documentation keeps up with the tree: the README's Layout names every top-level folder
of the checkout, every subpackage and top-level module of ``aidock``, every role, inventory and
molecule scenario; and every role documents and specifies each of its defaults: its README
mirrors them (each as a ``name:`` line of a YAML block) and ``meta/argument_specs.yml`` lists
them, beside the ``meta/main.yml`` every role has.

The Layout's names are matched as it writes them, in backticks, so a word in prose does not count.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p for p in (REPO / "roles").iterdir() if p.is_dir())


def layout() -> str:
    """The README's Layout section, up to the next heading of its level or the end."""
    readme = (REPO / "README.md").read_text()
    match = re.search(r"^## Layout\n(.*?)(?=^## |\Z)", readme, re.M | re.S)
    assert match, "README.md has no '## Layout' section"
    return match.group(1)


def row(text: str, first_cell: str) -> str:
    """The Markdown table row of ``text`` whose first cell is ``first_cell``."""
    for line in text.splitlines():
        if line.startswith(f"| {first_cell} |"):
            return line
    raise AssertionError(f"the Layout has no row for {first_cell}")


def unnamed(text: str, names: list[str]) -> list[str]:
    """The names that ``text`` does not write in backticks."""
    return [name for name in names if f"`{name}`" not in text]


def tracked_top_level_folders() -> list[str]:
    """Top-level folders holding tracked files: what a fresh clone has, nothing built or cached."""
    files = subprocess.run(
        ["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    return sorted({f"{path.split('/')[0]}/" for path in files if "/" in path})


def test_unnamed_sees_a_missing_name() -> None:
    assert unnamed("| `roles/` | `agent`, `swarm` |", ["agent", "signing", "roles/"]) == ["signing"]


def test_layout_names_every_top_level_folder() -> None:
    folders = tracked_top_level_folders()
    assert "src/" in folders and ".ci/" in folders
    assert unnamed(layout(), folders) == []


def test_layout_names_every_subpackage_and_top_level_module() -> None:
    package = REPO / "src" / "aidock"
    names = sorted(
        f"aidock.{path.stem if path.is_file() else path.name}"
        for path in package.iterdir()
        if (path.is_dir() and (path / "__init__.py").exists())
        or (path.suffix == ".py" and path.stem != "__init__")
    )
    assert "aidock.agent" in names
    assert unnamed(layout(), names) == []


@pytest.mark.parametrize(
    ("first_cell", "folder"),
    [("`roles/`", "roles"), ("`inventories/`", "inventories"), ("`molecule/`", "molecule")],
)
def test_layout_names_every_role_inventory_and_scenario(first_cell: str, folder: str) -> None:
    names = sorted(
        path.name
        for path in (REPO / folder).iterdir()
        if path.is_dir() and path.name != "shared"  # molecule/shared: the scenarios' common files
    )
    assert unnamed(row(layout(), first_cell), names) == []


@pytest.mark.parametrize("role", ROLES, ids=lambda path: path.name)
def test_role_documents_and_specifies_every_default(role: Path) -> None:
    for required in ("README.md", "meta/main.yml", "meta/argument_specs.yml"):
        assert (role / required).is_file(), f"{role.name} has no {required}"
    defaults_file = role / "defaults" / "main.yml"
    defaults = (
        list(yaml.safe_load(defaults_file.read_text()) or {}) if defaults_file.is_file() else []
    )
    specs = yaml.safe_load((role / "meta" / "argument_specs.yml").read_text())["argument_specs"]
    specified = {name for entry in specs.values() for name in entry.get("options") or {}}
    readme = (role / "README.md").read_text()
    mirrored = [name for name in defaults if re.search(rf"^ *{name}:", readme, re.M)]
    assert [name for name in defaults if name not in mirrored] == [], "README misses defaults"
    assert [name for name in defaults if name not in specified] == [], "specs miss defaults"
