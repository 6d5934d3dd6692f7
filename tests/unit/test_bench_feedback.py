"""The ``feedback`` bench suite: profile_tasks output parsed, "before" kept beside "now"."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from bench import feedback
from bench.__main__ import SUITES

OUTPUT = """
TASK [ai_image : Copy the wheelhouse of rag] ***********************************
Monday 30 November 2026  02:39:09 +0000 (0:00:00.058)       0:00:01.524 *******
ok: [localhost]

TASK [image_build : Build localhost:5000/aidock/rag:0.1.0] *********************
Monday 30 November 2026  02:39:09 +0000 (0:00:00.058)       0:00:01.524 *******
changed: [localhost]

PLAY RECAP *********************************************************************
localhost                  : ok=230  changed=1    unreachable=0    failed=0    skipped=22

TASKS RECAP ********************************************************************
Monday 30 November 2026  02:39:09 +0000 (0:00:00.058)       0:09:51.524 *******
===============================================================================
ai_image : Copy the wheelhouse of rag ----------------------------------- 3.08s
docker_engine : Install the engine, CLI, Compose v2, buildx and containerd -- 37.59s
Gathering Facts --------------------------------------------------------- 6.68s
image_build : Build localhost:5000/aidock/rag:0.1.0 --------------------- 2.53s
"""


def test_suite_is_registered() -> None:
    assert "feedback" in {s.name for s in SUITES}


def test_profile_tasks_output_is_parsed() -> None:
    tasks = feedback.parse_tasks(OUTPUT)
    assert tasks[0][0].startswith("docker_engine : Install the engine")
    assert [s for _t, s in tasks] == [37.59, 6.68, 3.08, 2.53]
    assert feedback.parse_recap(OUTPUT)["changed"] == 1
    assert feedback.changed_tasks(OUTPUT) == ["image_build : Build localhost:5000/aidock/rag:0.1.0"]
    assert feedback.by_role(tasks) == pytest.approx(
        {"docker_engine": 37.59, "play": 6.68, "ai_image": 3.08, "image_build": 2.53}
    )


def test_before_is_kept_beside_now(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feedback, "RESULTS_DIR", tmp_path)
    monkeypatch.delenv("BENCH_FEEDBACK_REF", raising=False)
    now = feedback._with_before("noop-deploy", {"wall_s": 30.0})
    assert now == {"wall_s": 30.0, "before": None}
    (tmp_path / "feedback.json").write_text(
        json.dumps({"parts": {"noop-deploy": {"result": now}}}), encoding="utf-8"
    )
    monkeypatch.setenv("BENCH_FEEDBACK_REF", "abc123")
    merged = feedback._with_before("noop-deploy", {"wall_s": 90.0})
    assert merged == {"wall_s": 30.0, "before": {"wall_s": 90.0}}
    (tmp_path / "feedback.json").write_text(
        json.dumps({"parts": {"noop-deploy": {"result": merged}}}), encoding="utf-8"
    )
    monkeypatch.delenv("BENCH_FEEDBACK_REF")
    again = feedback._with_before("noop-deploy", {"wall_s": 28.0})
    assert again == {"wall_s": 28.0, "before": {"wall_s": 90.0}}


def test_render_shows_now_and_before() -> None:
    profile = {
        "wall_s": 30.0, "tasks_s": 25.0, "task_count": 3, "recap": {"ok": 3, "changed": 0},
        "top_tasks": [["a : x", 5.0]], "by_role_s": {"a": 5.0}, "load_avg_1m": [1.0, 1.5],
        "converge_s": 100.0, "goal_s": 45.0, "source": "working tree",
    }  # fmt: skip
    text = feedback.render_noop({**profile, "before": {**profile, "wall_s": 90.0}})
    assert "| wall time | 30.00 s | 90.00 s |" in text
    assert feedback._noop_rows({**profile, "before": None})[0][1] == "30.00 s"


def test_site_plays_are_the_imports_in_order(tmp_path: Path) -> None:
    site = tmp_path / "site.yml"
    site.write_text(
        "- name: A\n  ansible.builtin.import_playbook: docker_engine.yml\n"
        "- name: B\n  ansible.builtin.import_playbook: stacks.yml\n",
        encoding="utf-8",
    )
    assert feedback.site_plays(site) == ["docker_engine", "stacks"]


def test_plays_render_each_play_and_the_stacks_headline() -> None:
    result = {
        "plays": {
            "swarm": {"wall_s": 5.0, "task_count": 0, "recap": {}},
            "stacks": {"wall_s": 20.0, "task_count": 40, "recap": {"ok": 30, "changed": 0}},
        },
        "sum_s": 25.0,
    }
    text = feedback.render_plays(result)
    assert "| `make deploy PLAY=stacks` | 20.00 s | 40 | 0 |" in text
    assert "| `make deploy PLAY=swarm` | 5.00 s | 0 | no host |" in text
    assert feedback._plays_rows(result)[0][1:] == ["20.00 s", "all plays: 25.00 s", "0.80x"]
    assert feedback._plays_rows({"plays": {}, "sum_s": 0.0}) == []
