"""Layers of the package, read from the source with ``ast``.

``aidock.schemas`` (wire models) imports nothing else of aidock; the worker reaches the
agent only through its HTTP client; that client imports no other part of the agent (not
its settings, Docker or Flask).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "aidock"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def aidock_imports(path: Path) -> set[str]:
    """Every ``aidock...`` module ``path`` imports, at any level (functions included)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m == "aidock" or m.startswith("aidock.")}


def _modules(folder: str) -> list[Path]:
    return sorted((PACKAGE / folder).rglob("*.py"))


def _within(module: str, package: str) -> bool:
    return module == package or module.startswith(f"{package}.")


@pytest.mark.parametrize("path", _modules("schemas"), ids=lambda p: p.name)
def test_schemas_import_only_schemas(path: Path) -> None:
    outside = {m for m in aidock_imports(path) if not _within(m, "aidock.schemas")}
    assert not outside, f"{path.name} imports {sorted(outside)}"


@pytest.mark.parametrize("path", _modules("worker"), ids=lambda p: p.name)
def test_worker_uses_only_the_agent_client(path: Path) -> None:
    agent = {m for m in aidock_imports(path) if _within(m, "aidock.agent")}
    outside = {m for m in agent if not _within(m, "aidock.agent.client")}
    assert not outside, f"{path.name} imports {sorted(outside)}"


def test_agent_client_imports_no_other_agent_module() -> None:
    imports = aidock_imports(PACKAGE / "agent" / "client.py")
    agent = {m for m in imports if _within(m, "aidock.agent")}
    assert not agent, f"agent/client.py imports {sorted(agent)}"


def test_the_checks_see_imports() -> None:
    assert "aidock.agent.client" in aidock_imports(PACKAGE / "worker" / "run.py")
    assert "aidock.schemas" in aidock_imports(PACKAGE / "schemas" / "bento.py")
