"""Helpers of the worker's tests: the real agent app with Docker faked on a local server.

Each "container" of the agent is a fake AI served on 127.0.0.1 (``test_agent_fakes``), which
``FakeOps.kill`` really stops; ``served_agent`` can stop the agent itself and serve it again
on the same port. Also document directories and the lines of an output file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from test_agent_fakes import TOKEN, FakeAiState, FakeCatalog, FakeOps, Server

from aidock.agent.app import create_app
from aidock.agent.config import AgentConfig
from aidock.worker.batch import RunOptions


@dataclass
class Agent:
    url: str
    ops: FakeOps
    state: FakeAiState
    token_file: Path

    def kill_first_running(self) -> None:
        running = self.ops.running()
        if running:
            self.ops.kill(running[0].id)


def write_token(folder: Path) -> Path:
    """A token file of the agent's token in ``folder``."""
    path = folder / "token"
    path.write_text(TOKEN)
    return path


@contextmanager
def running_agent(token_file: Path, wsgi_server: Any) -> Iterator[Agent]:
    """The agent on a werkzeug server (the ``wsgi_server`` fixture), at most 2 instances."""
    config = AgentConfig(owner_id="unit", token_file=token_file, max_instances=2)
    state = FakeAiState()
    ops = FakeOps(config, serve=True, ai_state=state)
    app = create_app(config, ops=ops, catalog=FakeCatalog(), reaper=False)
    try:
        with wsgi_server(app) as url:
            yield Agent(url, ops, state, token_file)
    finally:
        ops.stop_all()


def make_docs(root: Path, count: int, *, extra: dict[str, bytes] | None = None) -> Path:
    (root / "sub").mkdir(parents=True)
    for i in range(count):
        folder = root / "sub" if i % 3 == 0 else root
        (folder / f"doc{i:02d}.txt").write_text(f"Document {i}. Invoices are kept {i} years.\n")
    (root / ".hidden").write_text("never sent")
    for name, data in (extra or {}).items():
        (root / name).write_bytes(data)
    return root


def options(agent: Agent, docs: Path, output: Path, **overrides: Any) -> RunOptions:
    values: dict[str, Any] = {
        "ai": "rag",
        "version": "0.1.0",
        "input": docs,
        "output": output,
        "agent_url": agent.url,
        "token": TOKEN,
        "concurrency": 3,
        "timeout": 5.0,
        "retries": 1,
        "backoff": 0.01,
    }
    values.update(overrides)
    return RunOptions(**values)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def documents_in(path: Path) -> list[str]:
    return [rec["document"] for rec in lines(path)]


@contextmanager
def served_agent(token_file: Path) -> Iterator[tuple[Agent, list[Server]]]:
    """An agent on its own server, which a test can stop and serve again on the same port."""
    config = AgentConfig(owner_id="unit", token_file=token_file, max_instances=2)
    state = FakeAiState()
    ops = FakeOps(config, serve=True, ai_state=state)
    app = create_app(config, ops=ops, catalog=FakeCatalog(), reaper=False)
    box = [Server(app)]
    try:
        yield Agent(f"http://127.0.0.1:{box[0].port}", ops, state, token_file), box
    finally:
        box[0].stop()
        ops.stop_all()


def in_background(action: Callable[[], None]) -> Callable[[int], None]:
    """An ``on_call`` hook running ``action`` once, beside the 5th call."""

    def hook(count: int) -> None:
        if count == 5:
            threading.Thread(target=action, daemon=True).start()

    return hook
