"""What the repository's Makefile would run or holds, asked of make itself (not its text)."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def make(*args: str) -> str:
    """make's output for ``args`` in the repository."""
    return subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def make_dry_run(*targets: str) -> str:
    """The commands `make` would run for ``targets`` (``make -n``)."""
    return make("-n", *targets)


def make_variable(name: str) -> str:
    """A variable's value as make expands it (a print rule added with ``--eval``)."""
    return make("-s", "--eval", "print-%: ; @printf '%s\\n' '$($*)'", f"print-{name}").rstrip("\n")
