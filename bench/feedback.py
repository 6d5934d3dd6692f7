"""Feedback suite: how long a converged site takes to say "nothing to do", and what an import costs.

noop-deploy: the site playbook (what ``make deploy`` runs) on a converged site, timed with
Ansible's ``profile_tasks`` callback: wall time, the recap (``changed`` must be 0) and the
slowest tasks. It runs from a snapshot of the checkout (its tracked and untracked files; ``.venv``,
``.cache`` and ``.secrets`` linked, so wheelhouse, Bentos and passwords are the site's): edits
made meanwhile in a shared checkout neither change the run nor are changed by it. One run
converges the site to the snapshot, the next one is timed.

import: ``aidock bento import`` of a freshly trained small Bento (a categorization model on 200
generated documents, as in the catalog suite), run from the same kind of snapshot with
``profile_tasks``: wall time and the slowest tasks. ``aidock bento remove`` deletes it afterwards.

``BENCH_FEEDBACK_REF=<commit>`` snapshots that commit (``git archive``) instead of the working
tree and records the result as the part's "before" (the reference the report compares with);
a run without it records "now" and keeps the "before" of the previous results.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench.common import (
    NOOP_GOAL_S,
    RESULTS_DIR,
    ROOT,
    STAGING_DIR,
    BenchError,
    Context,
    fmt_seconds,
    log,
    md_table,
    parse_tasks,
    read_json,
)
from bench.modulecost import MODULE_COST
from bench.report import Part, Suite

PLAYBOOK = "playbooks/site.yml"
INVENTORY = "inventories/local"
LOG_DIR = STAGING_DIR / "feedback"  # the last output of each playbook run, for a look
LINKED = (".venv", ".cache", ".secrets")
TOP_TASKS = 12
IMPORT_NAME = "bench-feedback"
TRAIN = """
import sys
from aidock.ais.categorization import CategorizationAI
from aidock.ais.corpus import generate

print(CategorizationAI().train(generate(200, 5)).save_bento(output_dir=sys.argv[1]).archive)
"""
_LOADS: dict[str, list[float]] = {}  # 1-minute load average before and after each run
_SITE_IMPORT = re.compile(r"import_playbook: ([a-z_]+)\.yml")
_RECAP_LINE = re.compile(r"^localhost\s*:\s*(?P<counts>.*)$", re.MULTILINE)

NOOP_ATTEMPTS = 2  # timed runs at most: a deploy by someone else meanwhile makes one change
# Changes a no-op run may report that are not its own: the prune of dangling aidock images
# changes whenever any build on the host (another checkout, a test) left one since.
TOLERATED = ("ai_stack : Remove aidock images that rebuilds left untagged",)


@contextlib.contextmanager
def snapshot() -> Iterator[Path]:
    """A copy of the checkout (or of ``$BENCH_FEEDBACK_REF``) with the site's state linked in."""
    ref = os.environ.get("BENCH_FEEDBACK_REF", "").strip()
    with tempfile.TemporaryDirectory(prefix="aidock-bench-feedback-") as tmp:
        snap = Path(tmp) / "checkout"
        snap.mkdir()
        if ref:
            archive = subprocess.run(
                ["git", "-C", str(ROOT), "archive", "--format=tar", ref],
                capture_output=True, check=False,
            )  # fmt: skip
            if archive.returncode != 0:
                raise BenchError(f"git archive {ref} failed: {archive.stderr.decode()[-500:]}")
            subprocess.run(["tar", "-x", "-C", str(snap)], input=archive.stdout, check=True)
        else:
            listed = subprocess.run(
                ["git", "-C", str(ROOT), "ls-files", "-z", "-co", "--exclude-standard"],
                capture_output=True, check=True,
            ).stdout  # fmt: skip
            for name in sorted({n for n in listed.decode().split("\0") if n}):
                source = ROOT / name
                if source.is_file():  # a tracked file deleted in the working tree is skipped
                    (snap / name).parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(source, snap / name)
        for name in LINKED:
            if (ROOT / name).exists():
                (snap / name).symlink_to(ROOT / name)
        yield snap


def _env(snap: Path) -> dict[str, str]:
    return {
        **os.environ,
        "ANSIBLE_CONFIG": str(snap / "ansible.cfg"),
        "ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks",
        "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "all",
        "ANSIBLE_NOCOLOR": "true",
        "AIDOCK_PROJECT_DIR": str(snap),
        "BENTOML_DO_NOT_TRACK": "true",
    }


def _run(argv: list[str], snap: Path, what: str) -> tuple[float, str]:
    """Run ``argv`` in ``snap``; seconds and everything it printed. Fails on a non-zero exit."""
    started, load = time.perf_counter(), os.getloadavg()[0]
    done = subprocess.run(
        argv, cwd=snap, env=_env(snap), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        text=True, timeout=3600, check=False,
    )  # fmt: skip
    elapsed = time.perf_counter() - started
    _LOADS[what] = [round(load, 2), round(os.getloadavg()[0], 2)]
    LOG_DIR.mkdir(parents=True, exist_ok=True)
    (LOG_DIR / f"{what.replace(' ', '-')}.log").write_text(done.stdout, encoding="utf-8")
    if done.returncode != 0:
        raise BenchError(f"{what} failed (exit {done.returncode}): {done.stdout[-3000:]}")
    return elapsed, done.stdout


def parse_recap(output: str) -> dict[str, int]:
    """The PLAY RECAP counts of localhost (ok, changed, failed...)."""
    matches = list(_RECAP_LINE.finditer(output))
    if not matches:
        raise BenchError("no PLAY RECAP in the playbook's output")
    return {key: int(value) for key, value in re.findall(r"(\w+)=(\d+)", matches[-1]["counts"])}


def changed_tasks(output: str) -> list[str]:
    """Names of the tasks that reported a change."""
    names: list[str] = []
    task = ""
    for line in output.splitlines():
        if line.startswith("TASK ["):
            task = line[6 : line.rfind("]")]
        elif line.startswith("changed:") and task and task not in names:
            names.append(task)
    return names


def by_role(tasks: list[tuple[str, float]]) -> dict[str, float]:
    """Seconds per role (the part before `` : ``; ``play`` for tasks of playbooks)."""
    totals: dict[str, float] = {}
    for task, seconds in tasks:
        role = task.split(" : ", 1)[0] if " : " in task else "play"
        totals[role] = totals.get(role, 0.0) + seconds
    return dict(sorted(totals.items(), key=lambda kv: -kv[1]))


def _profile(elapsed: float, output: str, what: str) -> dict[str, Any]:
    tasks = parse_tasks(output)
    return {
        "wall_s": round(elapsed, 2),
        "load_avg_1m": _LOADS.get(what),
        "recap": parse_recap(output),
        "tasks_s": round(sum(s for _t, s in tasks), 2),
        "task_count": len(tasks),
        "top_tasks": [[t, s] for t, s in tasks[:TOP_TASKS]],
        "by_role_s": {k: round(v, 2) for k, v in by_role(tasks).items()},
    }


def _site_argv(snap: Path) -> list[str]:
    return [str(ROOT / ".venv" / "bin" / "ansible-playbook"), "-i", INVENTORY, str(snap / PLAYBOOK)]


def _ref() -> str:
    return os.environ.get("BENCH_FEEDBACK_REF", "").strip()


def _with_before(part: str, measured: dict[str, Any]) -> dict[str, Any]:
    """``measured`` as "now" (keeping the previous "before"), or as "before" with ``$REF``."""
    data = read_json(RESULTS_DIR / "feedback.json") or {}
    previous = ((data.get("parts") or {}).get(part) or {}).get("result") or {}
    if _ref():
        if "wall_s" not in previous:  # nothing measured "now" yet: show "before" alone
            return {**measured, "before": measured}
        return {**previous, "before": measured}
    return {**measured, "before": previous.get("before")}


def run_noop(ctx: Context) -> dict[str, Any]:
    """Converge from a snapshot, then time the same playbook again (changed=0 or it fails)."""
    del ctx
    with snapshot() as snap:
        converge_s, converge_out = _run(_site_argv(snap), snap, "converging run")
        log(f"noop-deploy: converged in {converge_s:.0f} s {parse_recap(converge_out)}")
        for attempt in range(1, NOOP_ATTEMPTS + 1):
            what = f"no-op run {attempt}"
            elapsed, output = _run(_site_argv(snap), snap, what)
            result = _profile(elapsed, output, what)
            changes = changed_tasks(output)
            result["tolerated_changes"] = [t for t in changes if t in TOLERATED]
            if not [t for t in changes if t not in TOLERATED]:
                break
            message = f"{what} changed {result['recap'].get('changed')}: {changes[:5]}"
            if attempt == NOOP_ATTEMPTS:
                raise BenchError(message)
            log(f"noop-deploy: {message}; once more")
    result.update(
        converge_s=round(converge_s, 2),
        attempts=attempt,
        goal_s=NOOP_GOAL_S,
        source=_ref() or "working tree",
    )
    return _with_before("noop-deploy", result)


def site_plays(site: Path) -> list[str]:
    """The plays ``site.yml`` imports, in order (what ``make deploy PLAY=<play>`` accepts)."""
    return _SITE_IMPORT.findall(site.read_text(encoding="utf-8"))


def run_plays(ctx: Context) -> dict[str, Any]:
    """Converge from a snapshot (not timed), then time each play of site.yml alone."""
    del ctx
    plays: dict[str, Any] = {}
    with snapshot() as snap:
        _run(_site_argv(snap), snap, "converging run (plays)")
        for play in site_plays(snap / PLAYBOOK):
            what = f"no-op play {play}"
            argv = [*_site_argv(snap)[:-1], str(snap / "playbooks" / f"{play}.yml")]
            elapsed, output = _run(argv, snap, what)
            changes = [t for t in changed_tasks(output) if t not in TOLERATED]
            if changes:
                raise BenchError(f"{what} changed something on a converged site: {changes[:5]}")
            try:
                recap = parse_recap(output)
            except BenchError:  # no host of the inventory in the play (swarm on one host)
                recap = {}
            plays[play] = {
                "wall_s": round(elapsed, 2),
                "task_count": len(parse_tasks(output)),
                "recap": recap,
                "load_avg_1m": _LOADS.get(what),
            }
    return {"plays": plays, "sum_s": round(sum(p["wall_s"] for p in plays.values()), 2)}


def render_plays(result: dict[str, Any]) -> str:
    rows = [
        [f"`make deploy PLAY={play}`", fmt_seconds(data["wall_s"]), str(data["task_count"]),
         str(data["recap"].get("changed", "no host"))]
        for play, data in result["plays"].items()
    ]  # fmt: skip
    rows.append(["each play alone, one after another", fmt_seconds(result["sum_s"]), "", ""])
    return md_table(["no-op run of one play", "wall time", "tasks", "changed"], rows) + "\n"


def _plays_rows(result: dict[str, Any]) -> list[list[str]]:
    stacks = result["plays"].get("stacks")
    if not stacks:
        return []
    return [["no-op make deploy PLAY=stacks (one play of the site)", fmt_seconds(stacks["wall_s"]),
             f"all plays: {fmt_seconds(result['sum_s'])}",
             f"{stacks['wall_s'] / result['sum_s']:.2f}x" if result["sum_s"] else ""]]  # fmt: skip


def run_import(ctx: Context) -> dict[str, Any]:
    """Train a small Bento (not timed), then time ``aidock bento import`` of it."""
    del ctx
    aidock = str(Path(sys.executable).parent / "aidock")
    version = f"run-{secrets.token_hex(3)}"
    with snapshot() as snap, tempfile.TemporaryDirectory(prefix="aidock-bench-bento-") as tmp:
        archive = Path(tmp) / "feedback.bento"
        train = subprocess.run(
            [sys.executable, "-c", TRAIN, str(archive)], cwd=ROOT, capture_output=True,
            text=True, env={**os.environ, "BENTOML_HOME": f"{tmp}/bentoml",
                            "BENTOML_DO_NOT_TRACK": "true"}, check=False,
        )  # fmt: skip
        if train.returncode != 0:
            raise BenchError(f"training the Bento failed: {train.stderr[-1500:]}")
        try:
            elapsed, output = _run(
                [aidock, "bento", "import", str(archive), "--name", IMPORT_NAME,
                 "--version", version], snap, "aidock bento import",
            )  # fmt: skip
        finally:
            with contextlib.suppress(BenchError):
                _run([aidock, "bento", "remove", IMPORT_NAME], snap, "aidock bento remove")
    result = _profile(elapsed, output, "aidock bento import")
    result["source"] = _ref() or "working tree"
    return _with_before("import", result)


def _task_table(result: dict[str, Any], before: dict[str, Any] | None) -> str:
    old = dict((t, s) for t, s in before["top_tasks"]) if before else {}
    rows = [[task, fmt_seconds(seconds), fmt_seconds(old.get(task))] for task, seconds in
            result["top_tasks"]]  # fmt: skip
    return md_table(["slowest tasks (profile_tasks)", "now", "before"], rows)


def _role_table(result: dict[str, Any], before: dict[str, Any] | None) -> str:
    old = before["by_role_s"] if before else {}
    roles = list(result["by_role_s"]) + [r for r in old if r not in result["by_role_s"]]
    rows = [[role, fmt_seconds(result["by_role_s"].get(role)), fmt_seconds(old.get(role))]
            for role in roles]  # fmt: skip
    return md_table(["role", "now (sum of its tasks)", "before"], rows)


def _summary_rows(result: dict[str, Any], before: dict[str, Any] | None) -> list[list[str]]:
    def pick(data: dict[str, Any] | None, key: str) -> str:
        return fmt_seconds(data[key]) if data and key in data else "n/a"

    recap = result["recap"]
    old_recap = (before or {}).get("recap", {})
    return [
        ["wall time", pick(result, "wall_s"), pick(before, "wall_s")],
        ["sum of task times", pick(result, "tasks_s"), pick(before, "tasks_s")],
        ["tasks run", str(result["task_count"]), str((before or {}).get("task_count", "n/a"))],
        ["recap ok / changed", f"{recap.get('ok')} / {recap.get('changed')}",
         f"{old_recap.get('ok', 'n/a')} / {old_recap.get('changed', 'n/a')}"],
        ["host load average (1 min), before / after", _loads(result), _loads(before)],
    ]  # fmt: skip


def _loads(data: dict[str, Any] | None) -> str:
    load = (data or {}).get("load_avg_1m")
    return f"{load[0]:.1f} / {load[1]:.1f}" if load else "n/a"


def render_noop(result: dict[str, Any]) -> str:
    before = result.get("before")
    rows = _summary_rows(result, before)
    return (
        f"Now: a snapshot of the {result['source']} (the converging run before took "
        f"{fmt_seconds(result['converge_s'])}); before: "
        f"{(before or {}).get('source', 'not measured')}. Goal: <= {result['goal_s']:.0f} s."
        + _tolerated(result, "now")
        + _tolerated(before, "before")
        + "\n\n"
        + md_table(["no-op `make deploy`", "now", "before"], rows)
        + "\n\n"
        + _task_table(result, before)
        + "\n\n"
        + _role_table(result, before)
        + "\n"
    )


def _tolerated(data: dict[str, Any] | None, label: str) -> str:
    tasks = (data or {}).get("tolerated_changes") or []
    return f" {label.capitalize()}, tolerated change(s): {', '.join(tasks)}." if tasks else ""


def render_import(result: dict[str, Any]) -> str:
    before = result.get("before")
    rows = _summary_rows(result, before)
    return (
        f"Now: a snapshot of the {result['source']}; before: "
        f"{(before or {}).get('source', 'not measured')}.\n\n"
        + md_table(["`aidock bento import`", "now", "before"], rows)
        + "\n\n"
        + _task_table(result, before)
        + "\n"
    )


def _noop_rows(result: dict[str, Any]) -> list[list[str]]:
    before = result.get("before")
    changed = result["recap"].get("changed")
    return [[
        f"no-op make deploy (goal <= {result['goal_s']:.0f} s; changed={changed})",
        fmt_seconds(result["wall_s"]),
        f"before: {fmt_seconds(before['wall_s'])}" if before else "",
        f"{result['wall_s'] / before['wall_s']:.2f}x" if before else "",
    ]]  # fmt: skip


def _import_rows(result: dict[str, Any]) -> list[list[str]]:
    before = result.get("before")
    return [[
        "aidock bento import (validate, build, push)",
        fmt_seconds(result["wall_s"]),
        f"before: {fmt_seconds(before['wall_s'])}" if before else "",
        f"{result['wall_s'] / before['wall_s']:.2f}x" if before else "",
    ]]  # fmt: skip


NOOP = Part(
    name="noop-deploy",
    title="A no-op make deploy",
    run=run_noop,
    render=render_noop,
    headline=_noop_rows,
    notes=(
        "`ansible-playbook -i inventories/local playbooks/site.yml` (what `make deploy` runs) "
        "from a snapshot of the checkout, twice: the first run converges, the second is timed "
        "(wall clock, Ansible's start included) with `ansible.posix.profile_tasks`. A timed "
        "run that changed something (a deploy by someone else meanwhile) is run once more; the "
        "part fails if that one changes something too. Tolerated, and listed in the JSON: the "
        "prune of dangling aidock images, which changes whenever any build on the host left "
        "one (on a shared host, other checkouts and tests build too).",
        "before: the same with `BENCH_FEEDBACK_REF=<commit>` (a `git archive` of the commit "
        "before the change); the load average of each run is in the JSON.",
        "Task times are profile_tasks' (a task included once per AI counts once per AI); "
        "per role they are summed.",
    ),
)

PLAYS = Part(
    name="noop-plays",
    title="A no-op run of each play alone",
    run=run_plays,
    render=render_plays,
    headline=_plays_rows,
    notes=(
        "From a snapshot as above: `site.yml` once to converge (not timed), then each play it "
        "imports alone, as `make deploy PLAY=<play>` runs it; wall time and profile_tasks' task "
        "count of each. A play that changes something fails the part.",
    ),
)

IMPORT = Part(
    name="import",
    title="Where aidock bento import spends its time",
    run=run_import,
    render=render_import,
    headline=_import_rows,
    notes=(
        "A categorization model trained on 200 generated documents, saved as a Bento (not "
        "timed), imported with `aidock bento import ARCHIVE --name bench-feedback --version "
        "run-*` (validation, wheelhouse check, image build on the shared base layers, push; "
        "no stack) from a snapshot, with profile_tasks; removed afterwards. The catalog suite's "
        "import part times the same import up to the first answer through the agent.",
    ),
)

FEEDBACK = Suite(
    name="feedback",
    title="Feedback benchmarks",
    description=(
        "How long a converged site takes for a no-op `make deploy` (whole, and play by play), "
        "what one Ansible module run costs, and where `aidock bento import` spends its time; "
        "whole deploy and import against the same measurements before issue 14's changes."
    ),
    parts=(NOOP, PLAYS, MODULE_COST, IMPORT),
)
