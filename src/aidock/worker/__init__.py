"""``aidock worker``: jobs that use the AIs (each worker module registers itself)."""

from __future__ import annotations

import argparse
import importlib

from aidock.cli import add_group

# Worker modules with a register(subparsers) function.
WORKERS: tuple[str, ...] = ("aidock.worker.rag", "aidock.worker.run", "aidock.worker.documents")


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``worker`` command group and its workers."""
    _, sub = add_group(
        subparsers,
        "worker",
        "use a running AI (e.g. ask the RAG AI)",
        "Workers send jobs to the AIs over their HTTP APIs.",
    )
    for module in WORKERS:
        importlib.import_module(module).register(sub)
