"""Fakes of the agent's unit tests: Docker operations and the registry catalog in memory.

``FakeOps`` stands for ``DockerOps``; with ``serve=True`` each "container" is a real
werkzeug server on 127.0.0.1 running ``fake_ai_app``, so the worker can be driven end to
end without Docker. ``FakeCatalog`` stands for ``RegistryCatalog`` with the site's three AIs
(any version). Other test modules import from here; the tests below check the fakes.
"""

from __future__ import annotations

import hashlib
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
from aidock.agent.catalog import AiEntry, AiVersion
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import ContainerInfo, DockerOps, ImageInfo, RunSpec, run_kwargs
from aidock.agent.errors import AgentError, DockerUnavailable, UnknownAi, UnknownVersion
from aidock.schemas.manifest import AiManifest, ManifestError

TOKEN = "unit-test-token-0123456789abcdef"
LOCALHOST = "127.0.0.1"
BENTO_TMPFS = {"/tmp": "size=128m,mode=1777"}
# What the site's images declare in their labels (images/*/Dockerfile).
SITE_AIS: dict[str, AiManifest] = {
    "rag": AiManifest(
        schema_version="rag/v1",
        port=5001,
        tmpfs={"/data": "uid=10001,gid=10001,mode=0700,size=256m", "/tmp": "size=64m,mode=1777"},
    ),
    "extraction": AiManifest(schema_version="extraction/v1", port=3000, tmpfs=BENTO_TMPFS),
    "categorization": AiManifest(schema_version="categorization/v1", port=3000, tmpfs=BENTO_TMPFS),
}


def fake_digest(ai: str, tag: str) -> str:
    return "sha256:" + hashlib.sha256(f"{ai}:{tag}".encode()).hexdigest()


class FakeCatalog:
    """In-memory ``Catalog``: AI -> manifest (or the ManifestError of an unusable image).

    ``versions`` limits an AI to some tags (default: any tag resolves); ``error`` makes every
    call raise it (a registry that is down).
    """

    def __init__(self, ais: dict[str, AiManifest | ManifestError] | None = None) -> None:
        self.ais: dict[str, AiManifest | ManifestError] = dict(SITE_AIS if ais is None else ais)
        self.versions: dict[str, list[str]] = {}
        self.error: AgentError | None = None
        self.resolved: list[tuple[str, str]] = []

    def _version(self, ai: str, tag: str) -> AiVersion:
        value = self.ais[ai]
        manifest = value if isinstance(value, AiManifest) else None
        problem = value if isinstance(value, ManifestError) else None
        labels = manifest.to_labels() if manifest else {}
        return AiVersion(ai, tag, fake_digest(ai, tag), 1000, None, labels, manifest, problem)

    def resolve(self, ai: str, tag: str) -> AiVersion:
        if self.error is not None:
            raise self.error
        if ai not in self.ais:
            raise UnknownAi(f"ai: unknown AI {ai!r}; the catalog has: {', '.join(self.ais)}", "ai")
        tags = self.versions.get(ai)
        if tags is not None and tag not in tags:
            raise UnknownVersion(
                f"version: {ai} has no version {tag!r}; versions: {', '.join(tags)}", "version"
            )
        self.resolved.append((ai, tag))
        version = self._version(ai, tag)
        version.require_manifest()
        return version

    def entry(self, ai: str) -> AiEntry:
        if self.error is not None:
            raise self.error
        if ai not in self.ais:
            raise UnknownAi(f"ai: unknown AI {ai!r}", "ai")
        return AiEntry(ai, [self._version(ai, t) for t in self.versions.get(ai, ["0.1.0"])])

    def list(self) -> list[AiEntry]:
        if self.error is not None:
            raise self.error
        return [self.entry(ai) for ai in sorted(self.ais)]


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
    """A werkzeug server on 127.0.0.1 in a thread (``port`` 0: any free port)."""

    def __init__(self, app: Flask, port: int = 0) -> None:
        self.app = app
        self.server: BaseWSGIServer = make_server(LOCALHOST, port, app, threaded=True)
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

    def again(self) -> Server:
        """A new server of the same app on the same port (after ``stop``)."""
        return Server(self.app, self.port)


class FakeOps:
    """In-memory ``ContainerOps``; ``serve=True`` runs a fake AI per container.

    ``docker_up = False`` is a daemon that does not answer (dockerd restarting): ``ping``
    says False and every other call raises ``DockerUnavailable``; containers keep running.
    """

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
        self.docker_up = True
        self._ports = itertools.count(40001)
        self.lock = threading.Lock()

    def _answer(self) -> None:
        if not self.docker_up:
            raise DockerUnavailable("the Docker daemon did not answer: connection refused")

    # ContainerOps

    def ping(self) -> bool:
        return self.docker_up

    def ensure_network(self) -> None:
        self._answer()
        self.networks += 1

    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo:
        self._answer()
        found = self.images.get(str(ref))
        if isinstance(found, Exception):
            raise found
        if found is not None:
            return found
        return ImageInfo(f"{ref.name}@{digest}", "sha256:image", digest, {}, False)

    def run(self, run: RunSpec) -> ContainerInfo:
        self._answer()
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
            # Docker merges the image's labels (the manifest) into the container's.
            labels={**run.spec.to_labels(), **kwargs["labels"]},
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
        self._answer()
        with self.lock:
            return self.containers.get(container_id)

    def logs(self, container_id: str, lines: int = 20) -> str:
        return "fake: cannot open /data"

    def remove(self, container_id: str, *, graceful: bool = True) -> bool:
        self._answer()
        with self.lock:
            info = self.containers.pop(container_id, None)
            server = self.servers.pop(container_id, None)
            if info is not None:
                self.removed.append(info.name)
        if server is not None:
            server.stop()
        return info is not None

    def list_owned(self) -> list[ContainerInfo]:
        self._answer()
        with self.lock:
            return [c for c in self.containers.values() if c.name.startswith(CONTAINER_PREFIX)]

    # DockerOps' own: it only inspects, so it runs on these containers.
    scale = DockerOps.scale

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

    def pause(self, container_id: str) -> Callable[[], None]:
        """Stop the fake AI's server (connections refused); call the result to serve again."""
        with self.lock:
            server = self.servers[container_id]
        server.stop()

        def resume() -> None:
            with self.lock:
                if container_id in self.containers:
                    self.servers[container_id] = server.again()

        return resume

    def running(self) -> list[ContainerInfo]:
        with self.lock:
            return [c for c in self.containers.values() if c.running]

    def stop_all(self) -> None:
        self.docker_up = True
        for cid in list(self.containers):
            self.remove(cid)


def test_fake_ops_serves_and_kills_a_fake_ai() -> None:
    config = AgentConfig(token_file=None)
    ops = FakeOps(config, serve=True)
    run = RunSpec("abc123", "rag", "0.1.0", "r/aidock/rag:0.1.0", "t", SITE_AIS["rag"])
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
