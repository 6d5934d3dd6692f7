"""The aidock wheel in the images is named after the digest of the files ai_image lists
(roles/ai_image/tasks/app-wheel.yml): every file the wheel ships must be among them, or a change
to it alone (the Docker API proxy's policy.yaml, say) would leave the deployed images as they were.
"""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src"


def _listed_patterns() -> list[str]:
    tasks = yaml.safe_load((ROOT / "roles/ai_image/tasks/app-wheel.yml").read_text())
    find = next(t["ansible.builtin.find"] for t in tasks if "ansible.builtin.find" in t)
    assert find["paths"].endswith("/src/aidock") and find["recurse"] is True
    patterns = find["patterns"]
    return [patterns] if isinstance(patterns, str) else list(patterns)


def _shipped_files() -> list[Path]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    package_data = pyproject["tool"]["setuptools"]["package-data"]
    shipped = list((SRC / "aidock").rglob("*.py"))
    for package, globs in package_data.items():
        where = SRC.joinpath(*package.split("."))
        for pattern in globs:
            matched = list(where.glob(pattern))
            assert matched, f"package-data {package}: {pattern} matches no file"
            shipped += matched
    return shipped


def test_the_wheel_digest_covers_every_shipped_file() -> None:
    patterns = _listed_patterns()
    missed = [
        str(path.relative_to(ROOT))
        for path in _shipped_files()
        if not any(fnmatch(path.name, pattern) for pattern in patterns)
    ]
    assert not missed, f"app-wheel.yml's find does not list: {missed}"
