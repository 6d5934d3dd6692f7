"""The feedback suite's ``module-cost`` part: its playbook, its per-item times, its zip."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from bench import modulecost
from bench.__main__ import SUITES
from bench.common import BenchError


def test_part_is_in_the_feedback_suite() -> None:
    suite = next(s for s in SUITES if s.name == "feedback")
    assert suite.part("module-cost") is modulecost.MODULE_COST


def test_playbook_loops_each_task_its_items() -> None:
    play = json.loads(modulecost.playbook())[0]
    assert play["hosts"] == "localhost" and play["gather_facts"] is False
    assert [t["name"] for t in play["tasks"]] == list(modulecost.LOOPS)
    stat = next(t for t in play["tasks"] if t["name"] == modulecost.STAT)
    assert stat["ansible.builtin.stat"] == {"path": "/etc/hostname"}
    assert stat["loop"] == "{{ range(30) | list }}"


def test_per_item_divides_each_loop_by_its_items() -> None:
    tasks = [(modulecost.ASSERT, 0.3), (modulecost.STAT, 15.0), (modulecost.IMAGE_INFO, 9.0),
             ("Gathering Facts", 1.0)]  # fmt: skip
    assert modulecost.per_item(tasks) == pytest.approx(
        {modulecost.ASSERT: 0.01, modulecost.STAT: 0.5, modulecost.IMAGE_INFO: 0.6}
    )
    with pytest.raises(BenchError, match="no time for"):
        modulecost.per_item(tasks[:1])


def test_module_utils_zip_imports_basic(tmp_path: Path) -> None:
    zipped = modulecost.module_utils_zip(tmp_path / "m.zip")
    names = zipfile.ZipFile(zipped).namelist()
    assert "ansible/__init__.py" in names and "ansible/module_utils/basic.py" in names
    code = (f"import sys; sys.path.insert(0, {str(zipped)!r}); import ansible.module_utils.basic "
            "as b; print(b.__file__)")  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.startswith(str(zipped))
