"""Layers of the package, read from the source with ``ast``.

``aidock.schemas`` (wire models) imports nothing else of aidock; the worker reaches the
agent only through its HTTP client; that client imports no other part of the agent (not
its settings, Docker or Flask); the served AIs never load the corpus generator
(``aidock.ais.corpus``), neither directly nor through what they import. No two modules
import each other, directly or through others, counting the imports inside functions too
(an import that only type checkers see is no cycle); and each import left inside a function
(ruff's PLC0415, see pyproject.toml) says why it is there.
"""

from __future__ import annotations

import ast
import os
import re
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


def _run_on_import(node: ast.AST, functions: bool = False) -> Iterator[ast.AST]:
    """The nodes under ``node`` that run when the module is imported: not the bodies of
    functions (unless ``functions``: then every node that can run), not ``if TYPE_CHECKING:``
    blocks."""
    for child in ast.iter_child_nodes(node):
        if not functions and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            continue
        if isinstance(child, ast.If) and ast.unparse(child.test).endswith("TYPE_CHECKING"):
            for stmt in child.orelse:
                yield stmt
                yield from _run_on_import(stmt, functions)
            continue
        yield child
        yield from _run_on_import(child, functions)


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


def _module_of(name: str) -> str | None:
    """The aidock module ``name`` is or is in: ``aidock.ais.base.AI`` -> ``aidock.ais.base``."""
    while name and _source(name) is None:
        name = name.rpartition(".")[0]
    return name or None


def import_graph() -> dict[str, set[str]]:
    """Each aidock module -> the aidock modules it imports, at load time or in a function."""
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        names = _imported(_run_on_import(tree, functions=True), _package(path))
        graph[module] = {m for m in map(_module_of, names) if m and m != module}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` as ``[a, b, ..., a]``, or None (depth-first search)."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        if node in path:
            return [*path[path.index(node) :], node]
        if node in done:
            return None
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if cycle := visit(target):
                return cycle
        path.pop()
        done.add(node)
        return None

    for root in sorted(graph):
        if cycle := visit(root):
            return cycle
    return None


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


def test_no_import_cycles() -> None:
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_cycle_check_finds_cycles() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({**graph, "c": {"d"}}) is None
    imports = import_graph()
    assert "aidock.ais.base" in imports["aidock.bento.build"]  # module level
    assert "aidock.ais.extraction" in imports["aidock.bento.cli"]  # inside a function
    assert "aidock.bento.build" not in imports["aidock.ais.base"]  # only for type checkers
    assert "aidock.agent" in imports["aidock.agent.docker_ops"]  # from a package import a name


# A noqa comment: its codes (PLC0415 alone or with others), then the reason.
_NOQA = re.compile(r"#\s*noqa:\s*(?P<codes>[A-Z]+[0-9]+(?:\s*,\s*[A-Z]+[0-9]+)*)(?P<why>.*)")


def test_every_import_inside_a_function_says_why() -> None:
    root = SRC.parent
    silent = []
    for folder in ("src", "tests", "bench", "scripts"):
        for path in sorted((root / folder).rglob("*.py")):
            for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
                found = _NOQA.search(line)
                if found and "PLC0415" in found["codes"] and len(found["why"].strip()) < 3:
                    silent.append(f"{path.relative_to(root)}:{number}")
    assert not silent, f"# noqa: PLC0415 without a reason: {silent}"
