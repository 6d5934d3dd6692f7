"""Lifecycle of AI instances: start, wait ready, keep a registry, terminate, reap, adopt.

Policies:

- **Readiness**: an endpoint is handed out only after ``GET <endpoint><ready_path>``
  answers 200. The AI's ``start_timeout`` (else the agent's) counts from container
  start; the pull is not counted. Past it the container is removed and the request
  fails with 504; a container that exits while starting fails it with 502 (its last log
  lines in the message).
- **Capacity**: ``max_instances`` counts ready instances plus starts in flight; one more
  request is answered 429 (after dropping instances whose container died).
- **Idle TTL**: an instance not named by a request (create, or ``GET`` of it, the
  keep-alive) for ``idle_ttl`` seconds is terminated by the reaper thread, which also
  drops instances whose container exited and removes any container of this owner that
  the registry does not know (a start that crashed half-way).
- **Adoption** (on start): containers named ``aidock-ai-*`` with this agent's owner label
  are adopted when running, hardened as this agent would have run them, carrying a valid
  AI manifest (a container has its image's labels), and ready (readiness probe 200 within
  3 s), oldest first up to ``max_instances``. Every other one is stopped and removed.
  Workers holding an adopted instance go on unharmed; nothing is left behind by a crashed
  agent.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

import requests

from aidock.agent import AI_LABEL, INSTANCE_LABEL, STARTED_AT_LABEL, VERSION_LABEL
from aidock.agent.catalog import AiEntry, AiVersion
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import ContainerInfo, ImageInfo, RunSpec, container_name
from aidock.agent.errors import (
    AgentError,
    StartFailed,
    StartTimeout,
    TooManyInstances,
    UnknownInstance,
)
from aidock.agent.metrics import Metrics, reason_of
from aidock.schemas.agent import InstanceOut
from aidock.schemas.manifest import AiManifest, ManifestError

log = logging.getLogger(__name__)
ADOPT_PROBE_TIMEOUT = 3.0
LOG_TAIL_LINES = 20

Prober = Callable[[str, float], bool]


class Catalog(Protocol):
    """What the manager needs from the registry (``RegistryCatalog``, or a fake)."""

    def resolve(self, ai: str, tag: str) -> AiVersion: ...
    def entry(self, ai: str) -> AiEntry: ...
    def list(self) -> list[AiEntry]: ...


class ContainerOps(Protocol):
    """What the manager needs from Docker (``DockerOps``, or a fake in unit tests)."""

    def ensure_network(self) -> None: ...
    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo: ...
    def run(self, run: RunSpec) -> ContainerInfo: ...
    def inspect(self, container_id: str) -> ContainerInfo | None: ...
    def logs(self, container_id: str, lines: int = LOG_TAIL_LINES) -> str: ...
    def remove(self, container_id: str, *, graceful: bool = True) -> bool: ...
    def list_owned(self) -> list[ContainerInfo]: ...


def http_ready(url: str, timeout: float) -> bool:
    """True when ``GET url`` answers 200 (proxies from the environment are ignored)."""
    with requests.Session() as session:
        session.trust_env = False
        try:
            resp = session.get(url, timeout=timeout, allow_redirects=False)
        except requests.RequestException:
            return False
        return resp.status_code == 200


def new_instance_id() -> str:
    """12 random hex characters."""
    return secrets.token_hex(6)


def utcnow() -> datetime:
    """Now, timezone-aware UTC, to the second."""
    return datetime.now(UTC).replace(microsecond=0)


def utc_iso(moment: datetime) -> str:
    """``moment`` as ISO 8601 with a Z suffix (label values)."""
    return moment.isoformat().replace("+00:00", "Z")


@dataclass
class Instance:
    """A ready instance known to the agent."""

    id: str
    ai: str
    version: str
    image: str
    digest: str | None
    container_id: str
    container: str
    endpoint: str
    schema_version: str
    started_at: datetime
    last_used: float
    last_used_at: datetime = field(default_factory=utcnow)
    ready_path: str = "/readyz"

    def out(self, idle_ttl: float) -> InstanceOut:
        """The API representation."""
        return InstanceOut(
            id=self.id,
            ai=self.ai,
            version=self.version,
            image=self.image,
            digest=self.digest,
            endpoint=self.endpoint,
            ready_path=self.ready_path,
            schema_version=self.schema_version,
            container=self.container,
            started_at=self.started_at,
            last_used_at=self.last_used_at,
            idle_ttl=idle_ttl or None,
        )


@dataclass(frozen=True)
class ReconcileReport:
    """Outcome of adoption at start."""

    adopted: list[str]
    removed: list[str]


def endpoint_of(config: AgentConfig, spec: AiManifest, info: ContainerInfo) -> str | None:
    """Base URL of the AI in ``info`` for this agent's endpoint mode."""
    if config.endpoint_mode == "network":
        return f"http://{info.name}:{spec.port}"
    host_port = info.host_ports.get(spec.port)
    return f"http://127.0.0.1:{host_port}" if host_port else None


def _parse_time(text: str | None) -> datetime | None:
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class InstanceManager:
    """Registry of this agent's instances, and everything that changes it."""

    def __init__(
        self,
        config: AgentConfig,
        ops: ContainerOps,
        catalog: Catalog,
        *,
        probe: Prober = http_ready,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.monotonic,
        poll_interval: float = 0.1,
    ) -> None:
        self.config = config
        self.ops = ops
        self.catalog = catalog
        self.probe = probe
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.poll_interval = poll_interval
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._instances: dict[str, Instance] = {}
        self._starting: set[str] = set()  # container names of starts in flight
        self._stop = threading.Event()
        self._reaper: threading.Thread | None = None
        self._started_pid: int | None = None

    # -- start/stop ---------------------------------------------------------------------

    def start(self, *, reaper: bool = True) -> ReconcileReport | None:
        """Network, adoption and reaper thread; once per process (None when already done).

        A failure (Docker not answering) leaves it undone, so the next call tries again.
        """
        with self._start_lock:
            if self._started_pid == os.getpid():
                return None
            self.ops.ensure_network()
            report = self.reconcile()
            if reaper:
                self._stop.clear()
                self._reaper = threading.Thread(
                    target=self._reap_loop, name="agent-reaper", daemon=True
                )
                self._reaper.start()
            self._started_pid = os.getpid()
        return report

    def close(self) -> None:
        """Stop the reaper (instances keep running; a restarted agent adopts them)."""
        self._stop.set()
        if self._reaper is not None:
            self._reaper.join(10)
            self._reaper = None

    # -- adoption -----------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Adopt running, hardened, ready containers of this owner; remove the others."""
        adopted: list[str] = []
        removed: list[str] = []
        keep: list[tuple[datetime, Instance]] = []
        for info in self.ops.list_owned():
            with self._lock:
                if info.name in self._starting or any(
                    i.container_id == info.id for i in self._instances.values()
                ):
                    continue
            instance, reason = self._adoptable(info)
            if instance is None:
                log.warning("removing container %s: %s", info.name, reason)
                self.ops.remove(info.id)
                self.metrics.terminated(info.labels.get(AI_LABEL, "unknown"), "adoption")
                removed.append(info.name)
            else:
                keep.append((instance.started_at, instance))
        keep.sort(key=lambda pair: pair[0])
        for _, instance in keep:
            with self._lock:
                room = len(self._instances) + len(self._starting) < self.config.max_instances
                if room:
                    self._instances[instance.id] = instance
            if room:
                log.info("adopted %s (%s %s)", instance.container, instance.ai, instance.version)
                self.metrics.adopt(instance.ai)
                adopted.append(instance.container)
            else:
                log.warning("removing container %s: over max_instances", instance.container)
                self.ops.remove(instance.container_id)
                self.metrics.terminated(instance.ai, "adoption")
                removed.append(instance.container)
        return ReconcileReport(adopted, removed)

    def _adoptable(self, info: ContainerInfo) -> tuple[Instance | None, str]:
        ai = info.labels.get(AI_LABEL, "")
        instance_id = info.labels.get(INSTANCE_LABEL, "")
        version = info.labels.get(VERSION_LABEL, "")
        if not info.running:
            return None, f"it is {info.status}"
        if not info.hardened:
            return None, "not run as this agent runs AIs: " + "; ".join(info.problems)
        if not ai or not instance_id or not version:
            return None, "its ai, instance or version label is missing"
        try:  # a container carries its image's labels: the manifest it was started by
            spec = AiManifest.from_labels(info.labels)
        except ManifestError as exc:
            return None, f"no AI manifest: {exc}"
        if info.name != container_name(ai, instance_id):
            return None, "its name does not match its labels"
        endpoint = endpoint_of(self.config, spec, info)
        if endpoint is None:
            return None, f"port {spec.port} is not published on 127.0.0.1"
        if not self.probe(endpoint + spec.ready_path, ADOPT_PROBE_TIMEOUT):
            return None, "it is not ready"
        now = utcnow()
        started = _parse_time(info.labels.get(STARTED_AT_LABEL)) or now
        return (
            Instance(
                id=instance_id,
                ai=ai,
                version=version,
                image=info.image,
                digest=info.image.partition("@")[2] or None,
                container_id=info.id,
                container=info.name,
                endpoint=endpoint,
                schema_version=spec.schema_version,
                started_at=started,
                last_used=self.clock(),
                last_used_at=now,
                ready_path=spec.ready_path,
            ),
            "",
        )

    # -- create -------------------------------------------------------------------------

    def create(self, ai: str, version: str) -> Instance:
        """Start ``ai`` at ``version`` and return it once ready (see the module policies)."""
        ref = self.config.image_for(ai, version)  # 403 / 422 before anything else
        instance_id = new_instance_id()
        name = container_name(ai, instance_id)
        began = self.clock()
        try:
            found = self.catalog.resolve(ai, version)  # 404 / 422 / 502 / 503
            spec = found.require_manifest()
            self._reserve(name)
            try:
                instance = self._start(ref, found.digest, spec, instance_id, name)
            finally:
                with self._lock:
                    self._starting.discard(name)
        except AgentError as exc:
            self.metrics.failed(ai, reason_of(exc))
            raise
        self.metrics.started(ai, self.clock() - began)
        return instance

    def _reserve(self, name: str) -> None:
        if self._full():
            self.prune_dead()
        with self._lock:
            used = len(self._instances) + len(self._starting)
            if used >= self.config.max_instances:
                raise TooManyInstances(
                    f"max_instances ({self.config.max_instances}) reached: {used} instances "
                    "running or starting; terminate one (DELETE /v1/instances/<id>) or retry "
                    "later"
                )
            self._starting.add(name)

    def _full(self) -> bool:
        with self._lock:
            return len(self._instances) + len(self._starting) >= self.config.max_instances

    def _start(
        self, ref: ImageRef, digest: str, spec: AiManifest, instance_id: str, name: str
    ) -> Instance:
        """Run the image by the digest the registry named (a moved tag never runs)."""
        image = self.ops.ensure_image(ref, digest)
        started_at = utcnow()
        ai, version = ref.repository.rpartition("/")[2], ref.tag
        run = RunSpec(instance_id, ai, version, image.ref, utc_iso(started_at), spec)
        info = self.ops.run(run)
        try:
            timeout = self.config.start_timeout_for(spec.start_timeout)
            endpoint = self._wait_ready(info, spec, timeout)
        except BaseException:
            self.ops.remove(info.id, graceful=False)
            raise
        instance = Instance(
            id=instance_id,
            ai=ai,
            version=version,
            image=str(ref),
            digest=image.digest,
            container_id=info.id,
            container=name,
            endpoint=endpoint,
            schema_version=spec.schema_version,
            started_at=started_at,
            last_used=self.clock(),
            ready_path=spec.ready_path,
        )
        with self._lock:
            self._instances[instance_id] = instance
        log.info("instance %s ready at %s (%s)", instance_id, endpoint, ref)
        return instance

    def _wait_ready(self, info: ContainerInfo, spec: AiManifest, timeout: float) -> str:
        deadline = self.clock() + timeout
        endpoint = endpoint_of(self.config, spec, info)
        while True:
            current = self.ops.inspect(info.id)
            if current is None or not current.running:
                status = "removed" if current is None else current.status
                code = "" if current is None else f" (exit code {current.exit_code})"
                tail = self.ops.logs(info.id, LOG_TAIL_LINES)
                raise StartFailed(
                    f"{info.name} {status}{code} before it was ready"
                    + (f"; last log lines:\n{tail}" if tail else "")
                )
            endpoint = endpoint or endpoint_of(self.config, spec, current)
            remaining = deadline - self.clock()
            if endpoint and self.probe(endpoint + spec.ready_path, max(0.1, min(2.0, remaining))):
                return endpoint
            if self.clock() >= deadline:
                raise StartTimeout(
                    f"{info.name} was not ready within {timeout:g}s "
                    f"(GET {spec.ready_path} never answered 200); the container was removed"
                )
            time.sleep(self.poll_interval)

    # -- queries ------------------------------------------------------------------------

    def get(self, instance_id: str, *, touch: bool = False) -> Instance:
        """The instance; ``touch`` counts as use (idle TTL keep-alive)."""
        with self._lock:
            instance = self._instances.get(instance_id)
            if instance is None:
                raise UnknownInstance(f"no instance {instance_id!r}", "id")
            if touch:
                instance.last_used = self.clock()
                instance.last_used_at = utcnow()
            return instance

    def list(self) -> list[Instance]:
        """All ready instances, in the order they became known (oldest first)."""
        with self._lock:
            return list(self._instances.values())

    def running_by_ai(self) -> dict[str, int]:
        """Number of ready instances per AI that has any."""
        counts: dict[str, int] = {}
        for instance in self.list():
            counts[instance.ai] = counts.get(instance.ai, 0) + 1
        return counts

    # -- termination --------------------------------------------------------------------

    def terminate(self, instance_id: str, reason: str = "request") -> None:
        """Stop and remove the instance's container; returns once it is gone."""
        with self._lock:
            instance = self._instances.pop(instance_id, None)
        if instance is None:
            raise UnknownInstance(f"no instance {instance_id!r}", "id")
        try:
            self.ops.remove(instance.container_id)
        except BaseException:
            with self._lock:  # keep it known so a retry can remove it
                self._instances.setdefault(instance_id, instance)
            raise
        self.metrics.terminated(instance.ai, reason)
        log.info("instance %s terminated (%s)", instance_id, reason)

    def terminate_all(self, reason: str = "shutdown") -> None:
        """Terminate every instance."""
        for instance in self.list():
            with contextlib.suppress(UnknownInstance):
                self.terminate(instance.id, reason)

    def prune_dead(self) -> list[str]:
        """Drop instances whose container is gone or stopped (removing what is left)."""
        dropped: list[str] = []
        for instance in self.list():
            info = self.ops.inspect(instance.container_id)
            if info is not None and info.running:
                continue
            with self._lock:
                if self._instances.pop(instance.id, None) is None:
                    continue
            if info is not None:
                self.ops.remove(instance.container_id)
            self.metrics.terminated(instance.ai, "exited")
            log.warning("instance %s: its container is gone or stopped; dropped", instance.id)
            dropped.append(instance.id)
        return dropped

    def reap(self) -> list[str]:
        """One reaper pass: exited instances, idle ones, and unknown containers of ours."""
        removed = self.prune_dead()
        ttl = self.config.idle_ttl
        if ttl > 0:
            now = self.clock()
            for instance in self.list():
                if now - instance.last_used > ttl:
                    try:
                        self.terminate(instance.id, "idle")
                        removed.append(instance.id)
                    except UnknownInstance:
                        pass
        removed += self._sweep_strays()
        return removed

    def _sweep_strays(self) -> list[str]:
        removed: list[str] = []
        for info in self.ops.list_owned():
            with self._lock:
                known = info.name in self._starting or any(
                    i.container_id == info.id for i in self._instances.values()
                )
            if not known:
                log.warning("removing container %s: unknown to this agent", info.name)
                self.ops.remove(info.id)
                self.metrics.terminated(info.labels.get(AI_LABEL, "unknown"), "stray")
                removed.append(info.name)
        return removed

    def _reap_loop(self) -> None:
        while not self._stop.wait(self.config.reap_interval):
            try:
                self.reap()
            except Exception:
                log.exception("reaper pass failed")
