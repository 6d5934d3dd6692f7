"""Lifecycle of AI instances: start, wait ready, keep a registry, terminate, reap, adopt.

Policies:

- **Readiness**: an endpoint is handed out only after ``GET <endpoint><ready_path>``
  answers 200. The AI's ``start_timeout`` (else the agent's) counts from container
  start; the pull is not counted. Past it the container is removed and the request
  fails with 504; a container that exits while starting fails it with 502 (its last log
  lines in the message).
- **Signatures**: with a site public key (``signature_public_key``), the digest the catalog
  resolved must carry a valid cosign signature of it before anything is pulled or run
  (``aidock.agent.signatures``); otherwise the request fails with 403 naming the image,
  the digest and the reason (a moved tag: both digests). Without a key nothing is checked.
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
  agent. Adoption runs once per process, as soon as Docker answers (``start``, else the
  supervisor thread).
- **Docker outages** (dockerd restarting, with ``live-restore`` or without): the supervisor
  thread pings Docker every ``docker_check_interval`` seconds. While Docker does not answer,
  ``/healthz`` answers 503, running instances go on and are still handed out by ``GET``,
  starts answer 503, and a terminated instance is no longer handed out: its container is
  removed as soon as Docker answers again (a retried ``DELETE`` answers 204 or 404 then).
  When Docker answers again, the next call connects anew (``DockerOps``: mount the
  socket's directory, so that the socket dockerd recreates is the one the agent sees),
  instances whose container died are dropped, pending terminations are carried out and
  every container of this owner the registry does not know (a start cut short) is removed;
  nothing is adopted then, since the registry is current. Docker never restarts a
  container for being unhealthy: past ``docker_lost_after`` seconds without an answer the
  agent gives up (``on_docker_lost``: the service exits with status 3), so that its
  container's restart policy starts a new agent, which adopts what survived.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from datetime import datetime

from aidock.agent import AI_LABEL
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import ContainerInfo, RunSpec, container_name
from aidock.agent.errors import (
    AgentError,
    DockerUnavailable,
    StartFailed,
    StartTimeout,
    TooManyInstances,
    UnknownInstance,
)
from aidock.agent.instance import (
    LOG_TAIL_LINES,
    Catalog,
    ContainerOps,
    Instance,
    LostHandler,
    Prober,
    ReconcileReport,
    adoptable,
    endpoint_of,
    http_ready,
    new_instance_id,
    utc_iso,
    utcnow,
)
from aidock.agent.metrics import Metrics, reason_of
from aidock.agent.signatures import SignatureVerifier
from aidock.agent.supervision import DockerSupervision
from aidock.agent.swarm_lifecycle import Replicas, check_replicas, wait_service_ready
from aidock.schemas.manifest import AiManifest

log = logging.getLogger(__name__)


class InstanceManager(DockerSupervision, Replicas):
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
        on_docker_lost: LostHandler | None = None,
        signatures: SignatureVerifier | None = None,
    ) -> None:
        self.config = config
        self.signatures = signatures
        self.ops = ops
        self.catalog = catalog
        self.probe = probe
        self.metrics = metrics or Metrics()
        self.clock = clock
        self.poll_interval = poll_interval
        self.on_docker_lost = on_docker_lost
        self._lock = threading.Lock()
        self._start_lock = threading.Lock()
        self._sync_lock = threading.Lock()
        self._instances: dict[str, Instance] = {}
        self._starting: dict[str, int] = {}  # starts in flight: container name -> replicas
        # Terminated while Docker did not answer: (instance, reason), removed once it does.
        self._pending: dict[str, tuple[Instance, str]] = {}
        self._adopted = False  # adoption ran in this process
        self._synced = False  # the registry matches Docker since the last outage
        self._down_since: float | None = None
        self._lost_reported = False
        self._stop = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._started_pid: int | None = None

    # -- start/stop ---------------------------------------------------------------------

    def start(self, *, reaper: bool = True) -> ReconcileReport | None:
        """Network, adoption and the supervisor thread; once per process.

        Returns the adoption report, or None when already started or when Docker does not
        answer yet: then the supervisor thread adopts once it does (``reaper=False``: the
        next ``check_docker``).
        """
        with self._start_lock:
            if self._started_pid == os.getpid():
                return None
            report: ReconcileReport | None = None
            try:
                report = self.resync()
            except DockerUnavailable as exc:
                self._docker_down()
                log.warning("%s; adoption waits until Docker answers", exc.message)
            if reaper:
                self._stop.clear()
                self._supervisor = threading.Thread(
                    target=self._supervise, name="agent-supervisor", daemon=True
                )
                self._supervisor.start()
            self._started_pid = os.getpid()
        return report

    def close(self) -> None:
        """Stop the supervisor (instances keep running; a restarted agent adopts them)."""
        self._stop.set()
        if self._supervisor is not None:
            self._supervisor.join(10)
            self._supervisor = None

    # -- Docker outages (the rest: DockerSupervision) -----------------------------------

    def resync(self) -> ReconcileReport:
        """Match the registry with Docker: adoption the first time, then a clean-up.

        The clean-up (after an outage) drops instances whose container died, removes the
        containers of pending terminations and every container of this owner that the
        registry does not know. Raises ``DockerUnavailable`` while Docker does not answer.
        """
        with self._sync_lock:
            self.ops.ensure_network()
            if not self._adopted:
                report = self.reconcile()
                self._adopted = True
            else:
                dropped = [i.container for i in self._dead()]
                report = ReconcileReport([], dropped + self.remove_pending() + self._sweep_strays())
            self._synced = True
        return report

    # -- adoption -----------------------------------------------------------------------

    def reconcile(self) -> ReconcileReport:
        """Adopt running, hardened, ready containers of this owner; remove the others."""
        adopted: list[str] = []
        removed: list[str] = []
        keep: list[tuple[datetime, Instance]] = []
        for info in self.ops.list_owned():
            if self._known(info):
                continue
            instance, reason = adoptable(info, self.config, self.probe, self.clock())
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
                room = self._used() + instance.replicas <= self.config.max_instances
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

    # -- create -------------------------------------------------------------------------

    def create(self, ai: str, version: str, replicas: int = 1) -> Instance:
        """Start ``ai`` at ``version`` and return it once ready (see the module policies)."""
        ref = self.config.image_for(ai, version)  # 403 / 422 before anything else
        check_replicas(self.config.backend, replicas, self.config.max_replicas)
        instance_id = new_instance_id()
        name = container_name(ai, instance_id, self.config.backend)
        began = self.clock()
        try:
            found = self.catalog.resolve(ai, version)  # 404 / 422 / 502 / 503
            spec = found.require_manifest()
            if self.signatures is not None:  # 403 before any pull: unsigned bytes never land
                self.signatures.require(ai, version, found.digest)
            self._reserve(name, replicas)
            try:
                instance = self._start(ref, found.digest, spec, instance_id, name, replicas)
            finally:
                with self._lock:
                    self._starting.pop(name, None)
        except AgentError as exc:
            self.metrics.failed(ai, reason_of(exc))
            raise
        self.metrics.started(ai, self.clock() - began)
        return instance

    def _used(self) -> int:
        """Replicas running, starting or pending termination (call with ``_lock`` held)."""
        return (
            sum(i.replicas for i in self._instances.values())
            + sum(self._starting.values())
            + sum(i.replicas for i, _ in self._pending.values())
        )

    def _reserve(self, name: str, replicas: int = 1) -> None:
        if self._full(replicas):
            self.prune_dead()
            self.remove_pending()
        with self._lock:
            used = self._used()
            if used + replicas > self.config.max_instances:
                raise TooManyInstances(
                    f"max_instances ({self.config.max_instances}) reached: {used} replicas "
                    f"running or starting, {replicas} more asked; terminate or scale down one "
                    "(DELETE or PATCH /v1/instances/<id>) or retry later"
                )
            self._starting[name] = replicas

    def _full(self, more: int = 1) -> bool:
        with self._lock:
            return self._used() + more > self.config.max_instances

    def _start(
        self,
        ref: ImageRef,
        digest: str,
        spec: AiManifest,
        instance_id: str,
        name: str,
        replicas: int = 1,
    ) -> Instance:
        """Run the image by the digest the registry named (a moved tag never runs)."""
        image = self.ops.ensure_image(ref, digest)
        started_at = utcnow()
        ai, version = ref.repository.rpartition("/")[2], ref.tag
        run = RunSpec(instance_id, ai, version, image.ref, utc_iso(started_at), spec, replicas)
        info = self.ops.run(run)
        endpoints: list[str] = []
        try:
            timeout = self.config.start_timeout_for(spec.start_timeout)
            if self.config.backend == "swarm":
                endpoints = wait_service_ready(
                    self.ops,
                    info,
                    spec.port,
                    spec.ready_path,
                    timeout,
                    probe=self.probe,
                    clock=self.clock,
                    poll_interval=self.poll_interval,
                )
                endpoint = str(endpoint_of(self.config, spec, info))
            else:
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
            replicas=replicas,
            endpoints=endpoints,
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
                if instance_id in self._pending:
                    raise UnknownInstance(f"instance {instance_id!r} is being terminated", "id")
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
        """Stop and remove the instance's container; returns once it is gone.

        While Docker does not answer (``DockerUnavailable``, 503) the instance is no longer
        handed out and its container is removed as soon as Docker answers again.
        """
        with self._lock:
            instance = self._instances.pop(instance_id, None)
            if instance is None and instance_id in self._pending:
                instance, reason = self._pending.pop(instance_id)
        if instance is None:
            raise UnknownInstance(f"no instance {instance_id!r}", "id")
        try:
            self.ops.remove(instance.container_id)
        except DockerUnavailable as exc:
            with self._lock:
                self._pending[instance_id] = (instance, reason)
            self._docker_down()
            raise DockerUnavailable(
                f"{exc.message}; instance {instance_id} is no longer handed out and its "
                "container is removed as soon as Docker answers again"
            ) from exc
        except BaseException:
            with self._lock:  # keep it known so a retry can remove it
                self._instances.setdefault(instance_id, instance)
            raise
        self.metrics.terminated(instance.ai, reason)
        log.info("instance %s terminated (%s)", instance_id, reason)

    def terminate_all(self, reason: str = "shutdown") -> None:
        """Terminate every instance (pending terminations included)."""
        with self._lock:
            pending = list(self._pending)
        for instance_id in [i.id for i in self.list()] + pending:
            try:
                self.terminate(instance_id, reason)
            except UnknownInstance:
                pass
            except DockerUnavailable as exc:
                log.warning("instance %s stays: %s", instance_id, exc.message)

    def remove_pending(self) -> list[str]:
        """Carry out the terminations Docker could not do; names of the removed containers."""
        with self._lock:
            pending = list(self._pending.items())
        removed: list[str] = []
        for instance_id, (instance, reason) in pending:
            self.ops.remove(instance.container_id)  # DockerUnavailable: the next pass
            with self._lock:
                if self._pending.pop(instance_id, None) is None:
                    continue  # a retried DELETE did it meanwhile
            self.metrics.terminated(instance.ai, reason)
            log.info("instance %s terminated (%s) now that Docker answers", instance_id, reason)
            removed.append(instance.container)
        return removed

    def prune_dead(self) -> list[str]:
        """Drop instances whose container is gone or stopped (removing what is left)."""
        return [instance.id for instance in self._dead()]

    def _dead(self) -> list[Instance]:
        dropped: list[Instance] = []
        for instance in self.list():
            info = self.ops.inspect(instance.container_id)
            if info is not None and info.alive:
                continue
            with self._lock:
                if self._instances.pop(instance.id, None) is None:
                    continue
            if info is not None:
                self.ops.remove(instance.container_id)
            self.metrics.terminated(instance.ai, "exited")
            log.warning("instance %s: its container is gone or stopped; dropped", instance.id)
            dropped.append(instance)
        return dropped

    def reap(self) -> list[str]:
        """One reaper pass: pending terminations, exited instances, idle ones, and unknown
        containers of ours (ids of the instances, names of the other containers)."""
        removed = self.remove_pending()
        removed += self.prune_dead()
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

    def _known(self, info: ContainerInfo) -> bool:
        """True for a start in flight, an instance, or a pending termination."""
        with self._lock:
            return (
                info.name in self._starting
                or any(i.container_id == info.id for i in self._instances.values())
                or any(i.container_id == info.id for i, _ in self._pending.values())
            )

    def _sweep_strays(self) -> list[str]:
        removed: list[str] = []
        for info in self.ops.list_owned():
            if not self._known(info):
                log.warning("removing container %s: unknown to this agent", info.name)
                self.ops.remove(info.id)
                self.metrics.terminated(info.labels.get(AI_LABEL, "unknown"), "stray")
                removed.append(info.name)
        return removed
