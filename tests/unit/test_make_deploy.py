"""`make deploy PLAY=...`: each play site.yml imports can run alone; anything else is refused."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SITE_PLAYS = re.findall(
    r"import_playbook: ([a-z_]+)\.yml", (REPO / "playbooks" / "site.yml").read_text("utf-8")
)


def make(*args: str, dry_run: bool = True) -> subprocess.CompletedProcess[str]:
    """`make ARGS` in the checkout, with ``-n`` unless told; never (re)making the venv."""
    argv = ["make", "--no-print-directory", "-o", "venv", "-o", ".venv/bin/activate",
            *(["-n"] if dry_run else []), *args]  # fmt: skip
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=60, check=False)


def test_site_imports_the_plays() -> None:
    assert {"docker_engine", "registry", "images", "stacks", "agent"} <= set(SITE_PLAYS)


@pytest.mark.parametrize("play", ["site", *SITE_PLAYS])
def test_each_play_runs_alone(play: str) -> None:
    done = make("deploy", f"PLAY={play}")
    assert done.returncode == 0, done.stderr
    assert f"ansible-playbook -i inventories/local playbooks/{play}.yml" in done.stdout


def test_default_is_the_whole_site() -> None:
    assert "playbooks/site.yml" in make("deploy").stdout


@pytest.mark.parametrize("play", ["nope", "down", "../site", "site stacks"])
def test_other_plays_are_refused_before_ansible_runs(play: str) -> None:
    done = make("deploy", f"PLAY={play}", dry_run=False)
    assert done.returncode != 0
    assert f"PLAY={play} is not a play of site.yml" in done.stderr
    assert "ansible-playbook" not in done.stdout + done.stderr
