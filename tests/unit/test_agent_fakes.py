"""Fakes of the agent's unit tests: Docker operations in memory, AIs as local servers.

``FakeOps`` stands for ``DockerOps``; with ``serve=True`` each "container" is a real
werkzeug server on 127.0.0.1 running ``fake_ai_app``, so the worker can be driven end to
end without Docker. Other test modules import from here; the tests below check the fakes.
"""

from __future__ import annotations

import itertools
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from flask import Flask, Response, jsonify, request
from werkzeug.serving import BaseWSGIServer, make_server

from aidock.agent import CONTAINER_PREFIX
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import (
    SCHEMA_LABEL_KEY,
    ContainerInfo,
    ImageInfo,
    RunSpec,
    run_kwargs,
)

TOKEN = "unit-test-token-0123456789abcdef"
LOCALHOST = "127.0.0.1"


@dataclass
class FakeAiState:
    """Behaviour shared by every fake AI server of a test, and what they saw."""

    calls: int = 0
    texts: list[str] = field(default_factory=list)
    on_call: Callable[[int], None] | None = None
    reject_marker: str = "REJECT"
    bad_schema_marker: str = "BADSCHEMA"
    delay: float = 0.0
    slow_marker: str = "SLOW"
    slow_seconds: float = 1.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def seen(self, text: str) -> int:
        with self.lock:
            self.calls += 1
            self.texts.append(text)
            return self.calls


def fake_ai_app(state: FakeAiState) -> Flask:
    """A tiny AI speaking rag/v1 ingest, extraction/v1 and categorization/v1."""
    app = Flask("fake-ai")

    @app.after_request
    def _close(resp: Response) -> Response:
        resp.headers["Connection"] = "close"  # a killed server really stops answering
        return resp

    def _text() -> str:
        body = request.get_json()
        if "documents" in body:
            return str(body["documents"][0]["text"])
        return str(body["text"])

    def _before(text: str) -> tuple[Response, int] | None:
        count = state.seen(text)
        if state.on_call is not None:
            state.on_call(count)
        if state.delay:
            threading.Event().wait(state.delay)
        if state.slow_marker in text:
            threading.Event().wait(state.slow_seconds)
        if state.reject_marker in text:
            return jsonify({"error": "text: rejected by the fake", "field": "text"}), 422
        return None

    @app.get("/readyz")
    def readyz() -> Response:
        return jsonify({"status": "ready"})

    @app.post("/v1/collections/<name>/documents")
    def ingest(name: str) -> tuple[Response, int]:
        text = _text()
        refused = _before(text)
        if refused:
            return refused
        if state.bad_schema_marker in text:
            return jsonify({"collection": name, "documents": "many"}), 201
        return jsonify({"collection": name, "documents": 1, "passages": 1}), 201

    @app.post("/extract")
    def extract() -> tuple[Response, int]:
        text = _text()
        refused = _before(text)
        if refused:
            return refused
        if state.bad_schema_marker in text:
            return jsonify({"schema_version": "extraction/v1", "spans": [{"label": "x"}]}), 200
        span = {"label": "first", "start": 0, "end": 1, "text": text[0], "confidence": 0.9}
        return jsonify({"schema_version": "extraction/v1", "spans": [span]}), 200

    return app


class Server:
    """A werkzeug server on 127.0.0.1 in a thread."""

    def __init__(self, app: Flask) -> None:
        self.server: BaseWSGIServer = make_server(LOCALHOST, 0, app, threaded=True)
        self.port = self.server.server_port
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()
        self._stopped = False

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class FakeOps:
    """In-memory ``ContainerOps``; ``serve=True`` runs a fake AI per container."""

    def __init__(
        self,
        config: AgentConfig,
        *,
        serve: bool = False,
        ai_state: FakeAiState | None = None,
    ) -> None:
        self.config = config
        self.serve = serve
        self.ai_state = ai_state or FakeAiState()
        self.images: dict[str, ImageInfo | Exception] = {}
        self.containers: dict[str, ContainerInfo] = {}
        self.servers: dict[str, Server] = {}
        self.runs: list[RunSpec] = []
        self.kwargs: list[dict[str, Any]] = []
        self.removed: list[str] = []
        self.networks = 0
        self.run_error: Exception | None = None
        self.exit_on_start = False
        self._ports = itertools.count(40001)
        self.lock = threading.Lock()

    # ContainerOps

    def ensure_network(self) -> None:
        self.networks += 1

    def ensure_image(self, ref: ImageRef) -> ImageInfo:
        found = self.images.get(str(ref))
        if isinstance(found, Exception):
            raise found
        if found is not None:
            return found
        ai = ref.repository.rsplit("/", 1)[1]
        labels = {SCHEMA_LABEL_KEY: self.config.catalog[ai].schema_version}
        return ImageInfo(str(ref), "sha256:image", "sha256:digest", labels, False)

    def run(self, run: RunSpec) -> ContainerInfo:
        if self.run_error is not None:
            raise self.run_error
        kwargs = run_kwargs(self.config, run)
        with self.lock:
            self.runs.append(run)
            self.kwargs.append(kwargs)
        if self.serve:
            server = Server(fake_ai_app(self.ai_state))
            port = server.port
        else:
            server, port = None, next(self._ports)
        info = ContainerInfo(
            id=uuid.uuid4().hex,
            name=run.name,
            labels=dict(kwargs["labels"]),
            status="exited" if self.exit_on_start else "running",
            image=run.image,
            exit_code=1 if self.exit_on_start else None,
            host_ports={run.spec.port: port},
        )
        with self.lock:
            self.containers[info.id] = info
            if server is not None:
                self.servers[info.id] = server
        return info

    def inspect(self, container_id: str) -> ContainerInfo | None:
        with self.lock:
            return self.containers.get(container_id)

    def logs(self, container_id: str, lines: int = 20) -> str:
        return "fake: cannot open /data"

    def remove(self, container_id: str, *, graceful: bool = True) -> bool:
        with self.lock:
            info = self.containers.pop(container_id, None)
            server = self.servers.pop(container_id, None)
            if info is not None:
                self.removed.append(info.name)
        if server is not None:
            server.stop()
        return info is not None

    def list_owned(self) -> list[ContainerInfo]:
        with self.lock:
            return [c for c in self.containers.values() if c.name.startswith(CONTAINER_PREFIX)]

    # test helpers

    def add(self, info: ContainerInfo) -> None:
        with self.lock:
            self.containers[info.id] = info

    def kill(self, container_id: str) -> None:
        """Like ``docker kill``: the process stops, the container stays (exited)."""
        with self.lock:
            info = self.containers[container_id]
            self.containers[container_id] = ContainerInfo(
                id=info.id,
                name=info.name,
                labels=info.labels,
                status="exited",
                image=info.image,
                exit_code=137,
                host_ports={},
            )
            server = self.servers.pop(container_id, None)
        if server is not None:
            server.stop()

    def running(self) -> list[ContainerInfo]:
        with self.lock:
            return [c for c in self.containers.values() if c.running]

    def stop_all(self) -> None:
        for cid in list(self.containers):
            self.remove(cid)


def test_fake_ops_serves_and_kills_a_fake_ai() -> None:
    config = AgentConfig(token_file=None)
    ops = FakeOps(config, serve=True)
    run = RunSpec("abc123", "rag", "0.1.0", "r/aidock/rag:0.1.0", "t", config.catalog["rag"])
    info = ops.run(run)
    url = f"http://{LOCALHOST}:{info.host_ports[5001]}"
    assert requests.get(url + "/readyz", timeout=5).status_code == 200
    ops.kill(info.id)
    assert ops.inspect(info.id).status == "exited"  # type: ignore[union-attr]
    try:
        requests.get(url + "/readyz", timeout=2)
    except requests.ConnectionError:
        pass
    else:  # pragma: no cover
        raise AssertionError("a killed fake AI still answers")
    assert ops.remove(info.id) is True
    assert ops.remove(info.id) is False
