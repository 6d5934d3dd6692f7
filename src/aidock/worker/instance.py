"""The instance a batch sends its documents to: requested from the agent, kept alive,
replaced when the AI dies, waited for while the platform is away, terminated at the end."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import requests

from aidock.agent.client import AgentClient
from aidock.cli import EXIT_API_ERROR, EXIT_UNREACHABLE
from aidock.client.http import AiUnavailableError, ApiClient, ApiError
from aidock.schemas.agent import InstanceOut
from aidock.worker.replicas import ReplicaPool

log = logging.getLogger(__name__)

ALIVE_TIMEOUT = 5.0
OUTAGE_WAIT = 120.0
MAX_WAIT_STEP = 10.0


class BatchAborted(Exception):
    """The batch cannot go on (agent unreachable, AI keeps dying, ...)."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code


def start_error(ai: str, version: str, exc: Exception) -> BatchAborted:
    """The abort for an instance request that failed."""
    if isinstance(exc, AiUnavailableError):
        return BatchAborted(
            f"the agent at {exc.url} is not reachable: {exc.reason}", EXIT_UNREACHABLE
        )
    if isinstance(exc, ApiError):
        code = EXIT_UNREACHABLE if exc.status in (502, 503, 504) else EXIT_API_ERROR
        return BatchAborted(
            f"the agent could not start {ai} {version} (HTTP {exc.status}): {exc.message}", code
        )
    return BatchAborted(f"the agent's answer is unusable: {exc}", EXIT_API_ERROR)


class InstanceHolder:
    """The current instance, replaced when it dies; keeps it alive; terminates it."""

    def __init__(
        self,
        agent: AgentClient,
        ai: str,
        version: str,
        make_api: Callable[[str], ApiClient],
        *,
        max_replacements: int = 3,
        outage_wait: float = OUTAGE_WAIT,
        clock: Callable[[], float] = time.monotonic,
        replicas: int = 1,
    ) -> None:
        self.agent = agent
        self.ai = ai
        self.version = version
        self.replicas = replicas
        self.make_api = make_api
        self.max_replacements = max_replacements
        self.outage_wait = outage_wait
        self.clock = clock
        self.replacements = 0
        self.generation = 0
        self.instance: InstanceOut | None = None
        self.api: ApiClient | None = None
        self.pool: ReplicaPool | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.cancel = threading.Event()  # set when the batch stops: waits end
        self._heartbeat: threading.Thread | None = None
        self.terminated: list[str] = []

    def _request(self, *, patient: bool = False) -> None:
        """Ask the agent for an instance; ``patient``: wait out ``outage_wait`` seconds of an
        agent that is unreachable or answers 503 (Docker restarting behind it)."""
        deadline = self.clock() + (self.outage_wait if patient else 0.0)
        step = 1.0
        while True:
            try:
                if self.replicas == 1:
                    instance = self.agent.request_instance(self.ai, self.version)
                else:
                    instance = self.agent.request_instance(self.ai, self.version, self.replicas)
                break
            except (ApiError, AiUnavailableError) as exc:
                transient = isinstance(exc, AiUnavailableError) or exc.status == 503
                if not transient or self.clock() + step > deadline or self.cancel.wait(step):
                    raise start_error(self.ai, self.version, exc) from exc
                log.warning("the agent cannot start %s yet (%s); asking again", self.ai, exc)
                step = min(step * 2, MAX_WAIT_STEP)
        self.instance = instance
        self.api = self.make_api(instance.endpoint)
        self.pool = ReplicaPool(instance.endpoints or [instance.endpoint], self.make_api)
        self.generation += 1
        log.info(
            "instance %s of %s %s ready at %s (%s; replicas: %s)",
            instance.id,
            self.ai,
            self.version,
            instance.endpoint,
            instance.schema_version,
            ", ".join(self.pool.urls),
        )

    def acquire(self) -> InstanceOut:
        """Request the first instance and start the keep-alive thread."""
        with self._lock:
            self._request()
            assert self.instance is not None
            instance = self.instance
        ttl = instance.idle_ttl
        interval = min(60.0, max(2.0, ttl / 3)) if ttl else 60.0
        self._heartbeat = threading.Thread(
            target=self._keep_alive, args=(interval,), name="worker-keepalive", daemon=True
        )
        self._heartbeat.start()
        return instance

    def current(self) -> tuple[int, InstanceOut, ApiClient]:
        """(generation, instance, API client of its endpoint)."""
        with self._lock:
            if self.instance is None or self.api is None:
                raise BatchAborted("no instance (the batch is over)", EXIT_API_ERROR)
            return self.generation, self.instance, self.api

    def replicas_of(self) -> tuple[int, InstanceOut, ReplicaPool]:
        """(generation, instance, its replica pool)."""
        with self._lock:
            if self.instance is None or self.pool is None:
                raise BatchAborted("no instance (the batch is over)", EXIT_API_ERROR)
            return self.generation, self.instance, self.pool

    def refresh_replicas(self, generation: int) -> bool:
        """Read the instance's replicas from the agent again (Swarm started tasks elsewhere);
        True when the pool of ``generation`` has a replica afterwards."""
        with self._lock:
            instance, pool = self.instance, self.pool
            if generation != self.generation or instance is None or pool is None:
                return True  # replaced meanwhile: the caller takes the new one
        try:
            current = self.agent.get(instance.id)
        except (ApiError, AiUnavailableError) as exc:
            log.warning("cannot read the replicas of %s: %s", instance.id, exc)
            return False
        added = pool.update(current.endpoints)
        if added:
            log.info("instance %s: replicas added: %s", instance.id, ", ".join(added))
        return len(pool) > 0

    def replica_alive(self, url: str, ready_path: str) -> bool:
        """True when one replica's readiness endpoint answers 200 (within 5 s)."""
        with requests.Session() as session:
            session.trust_env = False
            try:
                return session.get(url + ready_path, timeout=ALIVE_TIMEOUT).status_code == 200
            except requests.RequestException:
                return False

    def replace(self, failed_generation: int, reason: str) -> None:
        """Replace the instance of ``failed_generation`` (no-op if already replaced)."""
        with self._lock:
            if failed_generation != self.generation:
                return
            if self.replacements >= self.max_replacements:
                raise BatchAborted(
                    f"the AI stayed unreachable after {self.replacements} new instances: {reason}",
                    EXIT_UNREACHABLE,
                )
            old = self.instance
            log.warning(
                "instance %s is unreachable (%s): asking the agent for a new one",
                old.id if old else "?",
                reason,
            )
            self.instance = self.api = self.pool = None
            if old is not None:
                self._terminate(old.id)
            self.replacements += 1
            self._request(patient=True)

    def wait_out_outage(self, instance: InstanceOut) -> bool:
        """True when ``instance`` answers again after the platform was away.

        Called once the AI stopped answering. While the agent is unreachable too (dockerd
        restarting: its DNS and the agent come back, and with live-restore the AI is still
        there), wait up to ``outage_wait`` seconds for the AI to answer. False as soon as
        the agent answers (then it is the AI that is gone) or when the time is up.
        """
        deadline = self.clock() + self.outage_wait
        step = 1.0
        while True:
            if self.alive(instance):
                return True
            try:
                self.agent.get(instance.id)
            except AiUnavailableError:
                pass  # the agent is away too
            except ApiError as exc:
                if exc.status not in (502, 503, 504):
                    return False  # 404: the agent no longer has it
            else:
                return False  # the agent answers and has it: the AI itself is gone
            if self.clock() + step > deadline or self.cancel.wait(step):
                return False
            log.warning("instance %s and the agent are unreachable; waiting", instance.id)
            step = min(step * 2, MAX_WAIT_STEP)

    def alive(self, instance: InstanceOut) -> bool:
        """True when the instance's readiness endpoint answers 200 (within 5 s)."""
        return self.replica_alive(instance.endpoint.rstrip("/"), instance.ready_path)

    def _terminate(self, instance_id: str) -> None:
        try:
            self.agent.terminate(instance_id, missing_ok=True)
            self.terminated.append(instance_id)
        except (ApiError, AiUnavailableError) as exc:
            log.warning(
                "could not terminate instance %s (%s); the agent removes it once Docker "
                "answers, else its idle TTL reaps it",
                instance_id,
                exc,
            )

    def _keep_alive(self, interval: float) -> None:
        while not self._stop.wait(interval):
            instance = self.instance
            if instance is None:
                continue
            try:
                current = self.agent.get(instance.id)
            except (ApiError, AiUnavailableError) as exc:
                log.debug("keep-alive of %s failed: %s", instance.id, exc)
                continue
            pool = self.pool
            if pool is None or self.instance is not instance or not current.endpoints:
                continue  # replaced meanwhile, or an agent that lists no replicas
            if added := pool.update(current.endpoints):
                log.info("instance %s: replicas added: %s", instance.id, ", ".join(added))

    def release(self) -> None:
        """Stop the keep-alive and terminate the current instance."""
        self._stop.set()
        with self._lock:
            instance, self.instance, self.api, self.pool = self.instance, None, None, None
        if instance is not None:
            self._terminate(instance.id)
