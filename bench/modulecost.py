"""Module-cost part of the feedback suite: what one Ansible module run costs here, and where.

A no-op deploy's time follows the number of module runs it makes (ansible.cfg says why), so
this part measures that unit, with the references it is compared to measured in the same run:

- per task: a throw-away playbook (written outside the checkout) on this host, with the local
  inventory's connection and interpreter and the checkout's ansible.cfg (pipelining), loops
  ``ansible.builtin.assert`` (runs on the controller, no module), ``ansible.builtin.stat`` (the
  smallest module) and ``community.docker.docker_image_info`` (a Docker module and its larger
  module_utils); profile_tasks' time of each loop divided by its items.
- per import: ``import ansible.module_utils.basic`` in a fresh interpreter, once from a zip of
  the installed ``ansible/module_utils`` (what a module's AnsiballZ payload puts first on
  ``sys.path``; zipimport writes no bytecode, so every run compiles) and once from the installed
  package (bytecode cached), against the interpreter starting with nothing to import.

Considered: ``ansible-playbook -vvvv``'s timestamps (they time the controller's side only) and
py-spy over a deploy (a profile, not a number a report can compare run to run).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

import ansible.module_utils

from bench.common import NOOP_GOAL_S, ROOT, BenchError, Context, fmt_seconds, md_table, parse_tasks
from bench.report import Part

ASSERT, STAT, IMAGE_INFO = "assert (controller)", "stat (module)", "docker_image_info (module)"
LOOPS: dict[str, tuple[str, dict[str, Any], int]] = {  # task -> (action, arguments, loop items)
    ASSERT: ("ansible.builtin.assert", {"that": [True], "quiet": True}, 30),
    STAT: ("ansible.builtin.stat", {"path": "/etc/hostname"}, 30),
    IMAGE_INFO: ("community.docker.docker_image_info", {"name": ["aidock/python-base:bookworm-1"]},
                 15),
}  # fmt: skip
IMPORT_RUNS = 9
IMPORT_BASIC = "import ansible.module_utils.basic"


def playbook() -> str:
    """The throw-away playbook (JSON, which YAML reads): one looped task per ``LOOPS`` entry."""
    tasks = [{"name": name, action: args, "loop": f"{{{{ range({items}) | list }}}}"}
             for name, (action, args, items) in LOOPS.items()]  # fmt: skip
    return json.dumps([{"name": "Module cost", "hosts": "localhost", "gather_facts": False,
                        "tasks": tasks}], indent=2)  # fmt: skip


def per_item(tasks: list[tuple[str, float]]) -> dict[str, float]:
    """Seconds per loop item of each ``LOOPS`` task in profile_tasks' output."""
    times = dict(tasks)
    missing = [name for name in LOOPS if name not in times]
    if missing:
        raise BenchError(f"profile_tasks reported no time for {missing}")
    return {name: round(times[name] / items, 4) for name, (_a, _args, items) in LOOPS.items()}


def module_utils_zip(path: Path) -> Path:
    """A zip of the installed ``ansible/module_utils`` sources, as a module's payload has them."""
    source = Path(ansible.module_utils.__file__).parent
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("ansible/__init__.py", "")
        for file in sorted(source.rglob("*.py")):
            archive.write(file, f"ansible/module_utils/{file.relative_to(source).as_posix()}")
    return path


def _median_run(code: str) -> float:
    samples = []
    for _ in range(IMPORT_RUNS):
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              check=False)  # fmt: skip
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise BenchError(f"python -c {code!r} failed: {done.stderr[-1000:]}")
    return round(statistics.median(samples), 4)


def run(ctx: Context) -> dict[str, Any]:
    """Time the loops and the imports (module_utils' bytecode warmed by one import first)."""
    del ctx
    with tempfile.TemporaryDirectory(prefix="aidock-bench-modulecost-") as tmp:
        book = Path(tmp) / "module-cost.yml"
        book.write_text(playbook(), encoding="utf-8")
        env = {"ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"),
               "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
               "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all", "ANSIBLE_NOCOLOR": "true"}  # fmt: skip
        done = subprocess.run(
            [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", "inventories/local",
             "--limit", "localhost", str(book)], cwd=ROOT, capture_output=True, text=True,
            env={**os.environ, **env}, check=False, timeout=600,
        )  # fmt: skip
        if done.returncode != 0:
            raise BenchError(f"the module-cost playbook failed: {done.stdout[-2000:]}")
        zipped = module_utils_zip(Path(tmp) / "module_utils.zip")
        _median_run(IMPORT_BASIC)  # warm the installed package's bytecode cache
        imports = {
            "python start": _median_run("pass"),
            "from the zip": _median_run(f"import sys; sys.path.insert(0, {str(zipped)!r}); "
                                        f"{IMPORT_BASIC}"),
            "from cached bytecode": _median_run(IMPORT_BASIC),
        }  # fmt: skip
    per_run = per_item(parse_tasks(done.stdout))
    stat_s = per_run[STAT]
    return {
        "per_item_s": per_run,
        "import_s": imports,
        "goal_s": NOOP_GOAL_S,
        "module_runs_in_goal": int(NOOP_GOAL_S // stat_s) if stat_s else None,
    }


def render(result: dict[str, Any]) -> str:
    """Per-task and per-import tables, and what the no-op goal buys at this cost."""
    tasks = [[name, fmt_seconds(s)] for name, s in result["per_item_s"].items()]
    imports = result["import_s"]
    start = imports["python start"]
    rows = [["`python -c pass` (the start alone)", fmt_seconds(start), ""]] + [
        [f"`{IMPORT_BASIC}` {where}", fmt_seconds(imports[where]),
         fmt_seconds(max(imports[where] - start, 0.0))]
        for where in ("from the zip", "from cached bytecode")
    ]  # fmt: skip
    return (
        md_table(["one loop item of", "seconds"], tasks)
        + "\n\n"
        + md_table(["fresh interpreter", "wall", "minus python start"], rows)
        + f"\n\nAt this cost per module run, the no-op goal of {result['goal_s']:.0f} s holds "
        f"about {result['module_runs_in_goal']} module runs and nothing else.\n"
    )


def headline(result: dict[str, Any]) -> list[list[str]]:
    """A module run against a controller-only task; module_utils from the zip against cached."""
    per = result["per_item_s"]
    imports = result["import_s"]
    stat_s = per[STAT]
    assert_s = per[ASSERT]
    start = imports["python start"]
    zipped, cached = imports["from the zip"] - start, imports["from cached bytecode"] - start
    return [
        ["one Ansible module run (stat) vs. a controller-only task (assert)", fmt_seconds(stat_s),
         f"assert: {fmt_seconds(assert_s)}", f"{stat_s / assert_s:.1f}x" if assert_s else ""],
        ["importing module_utils.basic from a module's zip vs. cached bytecode",
         fmt_seconds(zipped), f"cached: {fmt_seconds(cached)}",
         f"{zipped / cached:.1f}x" if cached > 0 else ""],
    ]  # fmt: skip


MODULE_COST = Part(
    name="module-cost",
    title="What one Ansible module run costs",
    run=run,
    render=render,
    headline=headline,
    notes=(
        "A throw-away playbook on this host (the local inventory's connection and interpreter, "
        "the checkout's ansible.cfg) loops `ansible.builtin.assert` (controller only), "
        "`ansible.builtin.stat` and `community.docker.docker_image_info`; profile_tasks' time "
        "of each loop divided by its items.",
        f"`{IMPORT_BASIC}` in a fresh interpreter, median of {IMPORT_RUNS}: from a zip of the "
        "installed `ansible/module_utils` (as a module's payload carries them; no bytecode is "
        "written for a zip, so each run compiles) and from the installed package (bytecode "
        "cached), beside the interpreter's start alone.",
    ),
)
