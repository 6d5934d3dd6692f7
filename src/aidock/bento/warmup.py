"""Build-time warm-up of a Bento image: ``python -m aidock.bento.warmup /build/bento``.

Loads the Bento's service the way the image serves it (``aidock.bento.serve``: BentoML's
worker entry point under uvicorn), runs its ASGI app in-process (start-up, health, readiness,
metrics, and each API with a sample and an empty payload), then deletes the byte-code of every
module that none of this imported, under this venv or under the trees given with ``--venv``
(e.g. the venv and the aidock wheel staged apart for its own image layer). The image keeps the
``.pyc`` files its start needs (a read-only container cannot write them, and compiling at every
start doubles the time to ready) without carrying ``.pyc`` for the large parts of scipy, numpy
and BentoML's optional integrations that are never imported. A module first imported later
still works: Python compiles it in memory.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import _bentoml_impl.worker.service  # noqa: F401  (the entry point the image runs)
import uvicorn
from _bentoml_impl.loader import load
from starlette.testclient import TestClient

from aidock.bento.serve import prepare_metrics_dir

SAMPLE_TEXT = (
    "Invoice INV-2024-001 of 01.02.2024. Total amount due: 1,234.50 EUR by 01.03.2024. "
    "IBAN DE89 3704 0044 0532 0130 00."
)
PROBE_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/info", "/docs.json")


@dataclass(frozen=True)
class PruneReport:
    """What ``prune_bytecode`` kept and removed."""

    kept_files: int
    kept_bytes: int
    removed_files: int
    removed_bytes: int


def sample_payload(model: Any) -> dict[str, Any]:
    """A request body for a pydantic input model: sample values for its required simple fields."""
    samples: dict[type, Any] = {str: SAMPLE_TEXT, int: 1, float: 1.0, bool: False}
    payload: dict[str, Any] = {}
    for name, field in getattr(model, "model_fields", {}).items():
        if field.is_required() and field.annotation in samples:
            payload[name] = samples[field.annotation]
    return payload


def exercise(bento: Path) -> None:
    """Import and run what serving the Bento imports, in this process."""
    prepare_metrics_dir(os.environ)  # /metrics needs it, as when served
    service = load(str(bento), standalone_load=True)
    app = service.to_asgi(is_main=True)
    uvicorn.Config(app=app, log_config=None).load()  # protocol, loop and lifespan modules
    # Entering the client runs the lifespan: the service loads its model.
    with TestClient(app, raise_server_exceptions=False) as client:
        calls: list[tuple[str, str, Any]] = [("GET", path, None) for path in PROBE_PATHS]
        for api in service.apis.values():
            route = api.route if api.route.startswith("/") else f"/{api.route}"
            calls += [("POST", route, sample_payload(api.input_spec)), ("POST", route, {})]
        for method, path, body in calls:
            try:
                status = client.request(method, path, json=body).status_code
            except AssertionError as exc:  # the app sent nothing (some probes need a server)
                status = f"no response ({exc})"
            print(f"warm-up: {method} {path} -> {status}")


def imported_sources(modules: Iterable[Any]) -> set[Path]:
    """Resolved source files of the given modules."""
    sources: set[Path] = set()
    for module in modules:
        file = getattr(module, "__file__", None)
        if file and file.endswith(".py"):
            sources.add(Path(file).resolve())
    return sources


def source_of(pyc: Path) -> Path:
    """``pkg/__pycache__/mod.cpython-311.pyc`` -> ``pkg/mod.py``."""
    return (pyc.parent.parent / f"{pyc.name.split('.', 1)[0]}.py").resolve()


def prune_bytecode(root: Path, keep: set[Path], dry_run: bool = False) -> PruneReport:
    """Delete every ``__pycache__/*.pyc`` under ``root`` whose source is not in ``keep``."""
    kept_files = kept_bytes = removed_files = removed_bytes = 0
    for pyc in sorted(root.rglob("__pycache__/*.pyc")):
        size = pyc.stat().st_size
        if source_of(pyc) in keep:
            kept_files += 1
            kept_bytes += size
            continue
        removed_files += 1
        removed_bytes += size
        if not dry_run:
            pyc.unlink()
    return PruneReport(kept_files, kept_bytes, removed_files, removed_bytes)


def main(argv: Sequence[str] | None = None) -> int:
    """Warm up, then prune the venv's byte-code (``--dry-run``: only report)."""
    parser = argparse.ArgumentParser(prog="python -m aidock.bento.warmup", description=__doc__)
    parser.add_argument("bento", type=Path, help="directory of the unpacked Bento")
    parser.add_argument(
        "--venv",
        type=Path,
        action="append",
        help="a tree to prune: the venv, or a staged install whose package is on PYTHONPATH "
        "(repeatable; default: this venv)",
    )
    parser.add_argument("--dry-run", action="store_true", help="report, delete nothing")
    args = parser.parse_args(argv)
    if not (args.bento / "bento.yaml").is_file():
        print(f"error: {args.bento} is not an unpacked Bento (no bento.yaml)", file=sys.stderr)
        return 2
    exercise(args.bento)
    keep = imported_sources(list(sys.modules.values()))
    for root in args.venv or [Path(sys.prefix)]:
        report = prune_bytecode(root, keep, args.dry_run)
        print(
            f"warm-up: kept {report.kept_files} .pyc ({report.kept_bytes / 1e6:.1f} MB), "
            f"removed {report.removed_files} ({report.removed_bytes / 1e6:.1f} MB) under {root}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
