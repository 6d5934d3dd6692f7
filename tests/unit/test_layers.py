"""Layers of the package, read from the source with ``ast``.

``aidock.schemas`` (wire models) imports nothing else of aidock; the worker reaches the
agent only through its HTTP client; that client imports no other part of the agent (not
its settings, Docker or Flask); the served AIs never load the corpus generator
(``aidock.ais.corpus``), neither directly nor through what they import.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
PACKAGE = SRC / "aidock"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _package(path: Path) -> str:
    name = _module_name(path)
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def _imported(nodes: Iterator[ast.AST], package: str) -> set[str]:
    """The ``aidock...`` names that the import statements among ``nodes`` bring in."""
    found: set[str] = set()
    for node in nodes:
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


def aidock_imports(path: Path) -> set[str]:
    """Every ``aidock...`` module ``path`` imports, at any level (functions included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return _imported(ast.walk(tree), _package(path))


def _run_on_import(node: ast.AST) -> Iterator[ast.AST]:
    """The nodes under ``node`` that run when the module is imported: not the bodies of
    functions, not ``if TYPE_CHECKING:`` blocks."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
            for stmt in child.orelse:
                yield stmt
                yield from _run_on_import(stmt)
            continue
        yield child
        yield from _run_on_import(child)


def load_time_imports(path: Path) -> set[str]:
    """The ``aidock...`` modules that importing ``path`` imports itself."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    return _imported(_run_on_import(tree), _package(path))


def _source(module: str) -> Path | None:
    base = SRC.joinpath(*module.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def loaded_with(module: str) -> set[str]:
    """Every ``aidock...`` name that importing ``module`` loads, through its imports and
    the packages above each of them."""
    seen: set[str] = set()
    todo = [module]
    while todo:
        parts = todo.pop().split(".")
        for name in (".".join(parts[:i]) for i in range(1, len(parts) + 1)):
            path = None if name in seen else _source(name)
            seen.add(name)
            if path is not None:
                todo.extend(load_time_imports(path))
    return seen


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


SERVED = (
    "aidock.ais.base",
    "aidock.ais.categorization",
    "aidock.ais.extraction",
    "aidock.ais.features",
    "aidock.bento.service",
)
GENERATOR = "aidock.ais.corpus"


@pytest.mark.parametrize("module", SERVED)
def test_served_modules_never_load_the_corpus(module: str) -> None:
    generator = sorted(m for m in loaded_with(module) if _within(m, GENERATOR))
    assert not generator, f"importing {module} loads {generator}"


def test_serving_loads_no_corpus_module(tmp_path: Path) -> None:
    """The same, at run time: what a served Bento imports leaves the corpus unloaded."""
    code = (
        "import sys, aidock.bento.service; "
        f"loaded = sorted(m for m in sys.modules if m.split('.')[:3] == {GENERATOR.split('.')}); "
        "assert not loaded, loaded"
    )
    env = {**os.environ, "BENTOML_HOME": str(tmp_path), "BENTOML_DO_NOT_TRACK": "true"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]


def test_load_time_imports_skip_functions_and_type_checking() -> None:
    tree = ast.parse(
        "from typing import TYPE_CHECKING\n"
        "import aidock.a\n"
        "if TYPE_CHECKING:\n    import aidock.b\nelse:\n    import aidock.c\n"
        "try:\n    from . import d\nexcept ImportError:\n    pass\n"
        "def f():\n    import aidock.e\n"
        "class K:\n    import aidock.f\n"
    )
    found = _imported(_run_on_import(tree), "aidock.x")
    assert found == {"aidock.a", "aidock.c", "aidock.x", "aidock.x.d", "aidock.f"}
    assert "aidock.e" in _imported(ast.walk(tree), "aidock.x")


def test_the_corpus_check_follows_imports() -> None:
    assert {"aidock.ais.corpus.generator", "aidock.ais.document"} <= loaded_with(GENERATOR)
    assert "aidock.ais.document" in loaded_with("aidock.ais.extraction")
