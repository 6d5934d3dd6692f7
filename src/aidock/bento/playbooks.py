"""Running the site's playbooks of a source checkout for ``aidock bento import`` and ``remove``.

The import and removal of a custom AI are Ansible plays (``playbooks/import_bento.yml``,
``playbooks/remove_ai.yml``): the same roles a site deploy runs, against the same inventory.
This module builds their ``ansible-playbook`` command lines, finds the checkout, runs a play with
its output on stderr, and reads the JSON result the play writes (stdout stays the CLI's result).
ansible-runner was considered: it adds a private data directory and event files for what one
``subprocess.run`` and one result file do here.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

PROJECT_DIR_ENV = "AIDOCK_PROJECT_DIR"
IMPORT_PLAYBOOK = "playbooks/import_bento.yml"
REMOVE_PLAYBOOK = "playbooks/remove_ai.yml"
DEFAULT_INVENTORY = "inventories/local"


def project_dir() -> Path:
    """``$AIDOCK_PROJECT_DIR`` or the source checkout this package runs from."""
    if env := os.environ.get(PROJECT_DIR_ENV):
        return Path(env)
    return Path(__file__).resolve().parents[3]


def playbook_argv(
    project: Path,
    playbook: str,
    extra: dict[str, Any],
    *,
    inventory: str = DEFAULT_INVENTORY,
    ansible_playbook: str | Path | None = None,
) -> list[str]:
    """``ansible-playbook -i INVENTORY PLAYBOOK --extra-vars JSON`` of the checkout."""
    command = ansible_playbook or Path(sys.executable).parent / "ansible-playbook"
    inventory_path = Path(inventory)
    if not inventory_path.is_absolute():
        inventory_path = project / inventory_path
    return [
        str(command),
        "-i",
        str(inventory_path),
        str(project / playbook),
        "--extra-vars",
        json.dumps(extra, sort_keys=True),
    ]


def import_argv(
    project: Path,
    archive: str | Path,
    *,
    deploy: bool = False,
    inventory: str = DEFAULT_INVENTORY,
    name: str | None = None,
    version: str | None = None,
    port: int | None = None,
    result_file: str | Path | None = None,
    ansible_playbook: str | Path | None = None,
) -> list[str]:
    """The ``ansible-playbook`` command that imports ``archive`` (and deploys it)."""
    extra: dict[str, Any] = {
        "bento_archive": str(Path(archive).resolve()),
        "bento_deploy": deploy,
    }
    if name:
        extra["bento_ai_name"] = name
    if version:
        extra["bento_version"] = version
    if port is not None:
        extra["bento_port"] = port
    if result_file is not None:
        extra["bento_result_file"] = str(result_file)
    return playbook_argv(
        project, IMPORT_PLAYBOOK, extra, inventory=inventory, ansible_playbook=ansible_playbook
    )


def remove_argv(
    project: Path,
    name: str,
    *,
    version: str | None = None,
    inventory: str = DEFAULT_INVENTORY,
    result_file: str | Path | None = None,
    ansible_playbook: str | Path | None = None,
) -> list[str]:
    """The ``ansible-playbook`` command that removes AI ``name`` (one tag, or all)."""
    extra: dict[str, Any] = {"ai_name": name}
    if version:
        extra["ai_version"] = version
    if result_file is not None:
        extra["ai_result_file"] = str(result_file)
    return playbook_argv(
        project, REMOVE_PLAYBOOK, extra, inventory=inventory, ansible_playbook=ansible_playbook
    )


def checkout(playbook: str, what: str) -> Path | None:
    """The source checkout holding ``playbook``, or None (and a message)."""
    project = project_dir()
    if not (project / playbook).is_file():
        print(
            f"error: {what} runs {playbook} of a source checkout; none at {project} "
            f"(set ${PROJECT_DIR_ENV})",
            file=sys.stderr,
        )
        return None
    return project


def _stderr() -> int | None:
    """File descriptor of stderr, where the playbook's output goes (stdout is the result)."""
    try:
        return sys.stderr.fileno()
    except (AttributeError, OSError):  # a captured stream without a file
        return None


def run_playbook(project: Path, argv: list[str], result_file: Path) -> dict[str, Any] | None:
    """Run ``argv`` in the checkout; the result the playbook wrote, or None (and a message)."""
    env = {**os.environ}
    env.setdefault("ANSIBLE_CONFIG", str(project / "ansible.cfg"))
    print("running: " + shlex.join(argv), file=sys.stderr, flush=True)
    try:
        done = subprocess.run(argv, cwd=project, env=env, stdout=_stderr(), check=False)
    except OSError as exc:
        print(f"error: cannot run {argv[0]}: {exc}", file=sys.stderr)
        return None
    playbook = Path(argv[3]).relative_to(project)
    if done.returncode != 0:
        print(f"error: {playbook} failed (exit {done.returncode})", file=sys.stderr)
        return None
    try:
        result = json.loads(result_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        print(f"error: {playbook} left no readable result ({exc})", file=sys.stderr)
        return None
    return result if isinstance(result, dict) else None
