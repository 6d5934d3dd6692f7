"""inventories/example is a site a user copies: it parses, every variable carries a comment, and
the site scenario (molecule/site/inventory/hosts.yml) keeps its groups, so molecule tests what
users copy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "inventories" / "example"
SCENARIO_HOSTS = REPO / "molecule" / "site" / "inventory" / "hosts.yml"
SITE_GROUPS = {
    "aidock_controller",
    "aidock_registry",
    "aidock_build",
    "aidock_ai_hosts",
    "aidock_agent",
}
GROUP_VARS = sorted((EXAMPLE / "group_vars").rglob("*.yml"))


def inventory(source: Path) -> dict:
    """`ansible-inventory --list` of a source: groups and raw host variables, nothing templated."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-inventory"), "-i", str(source), "--list"],
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO,
        env={"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "PATH": "/usr/bin:/bin"},
    )
    return json.loads(result.stdout)


def groups(listing: dict) -> dict[str, set[str]]:
    return {
        name: set(group.get("hosts", []))
        for name, group in listing.items()
        if name not in {"_meta", "all", "ungrouped"}
    }


def test_example_parses_with_the_site_groups() -> None:
    found = groups(inventory(EXAMPLE))
    assert set(found) >= SITE_GROUPS
    assert len(found["aidock_registry"]) == 1
    assert found["aidock_controller"] == {"localhost"}
    assert len(found["aidock_agent"]) == 1
    assert found["aidock_agent"] <= found["aidock_ai_hosts"] | found["aidock_registry"]


def test_controller_runs_locally_without_sudo() -> None:
    controller = inventory(EXAMPLE)["_meta"]["hostvars"]["localhost"]
    assert controller["ansible_connection"] == "local"
    assert controller["ansible_become"] is False


def test_scenario_mirrors_the_example_groups() -> None:
    example = groups(inventory(EXAMPLE))
    scenario = groups(inventory(SCENARIO_HOSTS))
    assert {name: len(hosts) > 0 for name, hosts in example.items()} == {
        name: len(scenario[name]) > 0 for name in example
    }
    assert scenario["aidock_controller"] == {"localhost"}
    # The scenario's shape: one registry and build host, two AI hosts, the agent on one of them.
    assert scenario["aidock_registry"] == scenario["aidock_build"]
    assert len(scenario["aidock_ai_hosts"]) == 2
    assert scenario["aidock_agent"] <= scenario["aidock_ai_hosts"]


@pytest.mark.parametrize("path", GROUP_VARS, ids=lambda p: str(p.relative_to(EXAMPLE)))
def test_every_variable_is_commented(path: Path) -> None:
    lines = path.read_text().splitlines()
    for key in yaml.safe_load(path.read_text()) or {}:
        index = next(i for i, line in enumerate(lines) if line.startswith(f"{key}:"))
        assert index > 0 and lines[index - 1].startswith("#"), f"{path.name}: {key} has no comment"
