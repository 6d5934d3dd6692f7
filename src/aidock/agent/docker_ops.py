"""Every Docker Engine API call of the agent, through the Docker SDK.

Hardening is enforced here whatever the image says: uid/gid 10001, read-only root
filesystem with the tmpfs mounts its manifest labels ask for, all capabilities dropped,
no-new-privileges, memory (swap included), CPU and PID limits, ownership labels, the
agent's network, and ports (loopback mode only) published on 127.0.0.1.

A daemon that stops answering (dockerd restarting) is ``DockerUnavailable``, and the SDK
client is dropped: the next call connects anew, to whatever socket ``DOCKER_HOST`` names
then. Mount the *directory* holding that socket, not the socket file, into the agent's
container: dockerd replaces the socket file when it starts, and a bind-mounted file keeps
the old, dead one.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import Any

import docker
import requests
from docker.errors import APIError, DockerException, NotFound

from aidock.agent import (
    AI_LABEL,
    CONTAINER_PREFIX,
    INSTANCE_LABEL,
    OWNER_LABEL,
    RUN_AS,
    STARTED_AT_LABEL,
    VERSION_LABEL,
)
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.errors import (
    DockerUnavailable,
    ImageNotFound,
    RegistryError,
    StartFailed,
    UnknownInstance,
)
from aidock.schemas.manifest import AiManifest

log = logging.getLogger(__name__)
LOOPBACK = "127.0.0.1"
PING_TIMEOUT = 5.0
_UNREACHABLE_HINTS = (
    "connection refused",
    "dial tcp",
    "no such host",
    "i/o timeout",
    "tls",
    "x509",
    "no route to host",
    "network is unreachable",
    "context deadline exceeded",
)
_AUTH_HINTS = ("unauthorized", "authentication required", "denied", "no basic auth")
# Task states of a Swarm task whose container has been started: Docker's executor starts the
# container in ``starting`` and, for an image with a health check, reports ``running`` only
# once the check passed (Engine API TaskState; docs: Swarm task states).
STARTED_STATES = frozenset({"starting", "running"})


@dataclass(frozen=True)
class ImageInfo:
    """An image present locally, ready to run."""

    ref: str
    id: str
    digest: str | None
    labels: dict[str, str]
    pulled: bool


@dataclass(frozen=True)
class RunSpec:
    """What to run for one instance."""

    instance_id: str
    ai: str
    version: str
    image: str
    started_at: str
    spec: AiManifest
    replicas: int = 1

    @property
    def name(self) -> str:
        """Container name: ``aidock-ai-<ai>-<instance id>``."""
        return container_name(self.ai, self.instance_id)


@dataclass(frozen=True)
class TaskInfo:
    """One task (replica) of a Swarm service (``SwarmOps``)."""

    id: str
    slot: int
    node_id: str
    state: str
    desired_state: str
    address: str | None = None
    node: str = ""
    error: str = ""

    @property
    def running(self) -> bool:
        """True while its container runs and Swarm wants it to (with a health check: once
        the check passed; Swarm keeps the task ``starting`` until then)."""
        return self.state == "running" and self.desired_state == "running"

    @property
    def started(self) -> bool:
        """True once Swarm starts its container (``starting``: being started or started,
        its health check not passed yet; ``running``) and while Swarm wants it to run."""
        return self.state in STARTED_STATES and self.desired_state == "running"


@dataclass(frozen=True)
class ContainerInfo:
    """What the agent needs to know about one of its containers (or, with the swarm
    backend, one of its services: ``replicas`` wanted and ``tasks`` as they are)."""

    id: str
    name: str
    labels: dict[str, str]
    status: str
    image: str = ""
    exit_code: int | None = None
    host_ports: dict[int, int] = field(default_factory=dict)
    problems: tuple[str, ...] = ()
    replicas: int = 1
    tasks: tuple[TaskInfo, ...] = ()

    @property
    def running(self) -> bool:
        """True while the container's process runs (a service: one of its tasks runs)."""
        return self.status == "running"

    @property
    def alive(self) -> bool:
        """Running, or a service whose tasks Swarm is (re)starting: not to be dropped."""
        return self.status in {"running", "starting"}

    @property
    def hardened(self) -> bool:
        """True when it runs with the hardening this agent enforces."""
        return not self.problems


def container_name(ai: str, instance_id: str, backend: str = "docker") -> str:
    """Name of an instance's container (``backend`` swarm: of its service, a DNS label on
    the overlay network: '.' and '_' of the AI name become '-')."""
    name = f"{CONTAINER_PREFIX}{ai}-{instance_id}"
    return name.replace(".", "-").replace("_", "-") if backend == "swarm" else name


def run_kwargs(config: AgentConfig, run: RunSpec) -> dict[str, Any]:
    """Keyword arguments of ``containers.create`` for ``run`` (hardening enforced)."""
    spec = run.spec
    kwargs: dict[str, Any] = {
        "name": run.name,
        "user": RUN_AS,
        "read_only": True,
        "tmpfs": dict(spec.tmpfs),
        "cap_drop": ["ALL"],
        "security_opt": ["no-new-privileges:true"],
        "privileged": False,
        "mem_limit": spec.memory,
        "memswap_limit": spec.memory,
        "nano_cpus": spec.nano_cpus,
        "pids_limit": spec.pids,
        "labels": {
            OWNER_LABEL: config.owner_id,
            AI_LABEL: run.ai,
            VERSION_LABEL: run.version,
            STARTED_AT_LABEL: run.started_at,
            INSTANCE_LABEL: run.instance_id,
        },
        "environment": {},
        "network": config.network,
        "restart_policy": {"Name": "no"},
        "ipc_mode": "private",
        "detach": True,
    }
    if config.endpoint_mode == "loopback":
        kwargs["ports"] = {f"{spec.port}/tcp": (LOOPBACK, None)}
    return kwargs


def hardening_problems(attrs: dict[str, Any], owner_id: str) -> tuple[str, ...]:
    """Ways an inspected container differs from what this agent would have run."""
    host = attrs.get("HostConfig") or {}
    conf = attrs.get("Config") or {}
    problems: list[str] = []
    if (conf.get("Labels") or {}).get(OWNER_LABEL) != owner_id:
        problems.append("owner label differs")
    if conf.get("User") != RUN_AS:
        problems.append(f"user is {conf.get('User')!r}, not {RUN_AS}")
    if not host.get("ReadonlyRootfs"):
        problems.append("root filesystem is writable")
    if "ALL" not in (host.get("CapDrop") or []) or host.get("CapAdd"):
        problems.append("capabilities are not all dropped")
    if not any(str(o).startswith("no-new-privileges") for o in host.get("SecurityOpt") or []):
        problems.append("no-new-privileges is not set")
    if host.get("Privileged"):
        problems.append("privileged")
    if not host.get("Memory") or not host.get("PidsLimit") or not host.get("NanoCpus"):
        problems.append("memory, CPU or PID limit missing")
    for bindings in (host.get("PortBindings") or {}).values():
        for binding in bindings or []:
            if binding.get("HostIp") != LOOPBACK:
                problems.append("a port is published beyond 127.0.0.1")
    return tuple(problems)


def _host_ports(attrs: dict[str, Any]) -> dict[int, int]:
    ports: dict[int, int] = {}
    published = (attrs.get("NetworkSettings") or {}).get("Ports") or {}
    for key, bindings in published.items():
        port, _, proto = key.partition("/")
        if proto != "tcp" or not bindings:
            continue
        for binding in bindings:
            if binding.get("HostIp") == LOOPBACK and binding.get("HostPort"):
                ports[int(port)] = int(binding["HostPort"])
    return ports


def container_info(attrs: dict[str, Any], owner_id: str) -> ContainerInfo:
    """``ContainerInfo`` from ``docker inspect`` attributes."""
    state = attrs.get("State") or {}
    return ContainerInfo(
        id=str(attrs.get("Id", "")),
        name=str(attrs.get("Name", "")).lstrip("/"),
        labels=dict((attrs.get("Config") or {}).get("Labels") or {}),
        status=str(state.get("Status", "unknown")),
        image=str((attrs.get("Config") or {}).get("Image", "")),
        exit_code=state.get("ExitCode") if state.get("Status") == "exited" else None,
        host_ports=_host_ports(attrs),
        problems=hardening_problems(attrs, owner_id),
    )


def classify_pull_error(ref: ImageRef, exc: Exception) -> Exception:
    """The agent error for a failed pull of ``ref``."""
    text = str(getattr(exc, "explanation", None) or exc)
    lower = text.lower()
    if isinstance(exc, NotFound) or "manifest unknown" in lower or "not found" in lower:
        return ImageNotFound(f"version: the registry has no image {ref}", "version")
    if any(hint in lower for hint in _AUTH_HINTS):
        return RegistryError(f"the registry {ref.registry} refused the credentials: {text}")
    if any(hint in lower for hint in _UNREACHABLE_HINTS):
        return RegistryError(f"the registry {ref.registry} is not reachable: {text}")
    return RegistryError(f"pulling {ref} failed: {text}")


@contextmanager
def _engine(what: str) -> Iterator[None]:
    """Map a Docker daemon that does not answer to ``DockerUnavailable``."""
    try:
        yield
    except (requests.ConnectionError, requests.Timeout) as exc:
        raise DockerUnavailable(f"the Docker daemon did not answer while {what}: {exc}") from exc
    except DockerException as exc:
        if isinstance(exc, APIError):
            raise
        raise DockerUnavailable(f"Docker failed while {what}: {exc}") from exc


class DockerOps:
    """Docker Engine operations of one agent (``owner_id`` of ``config``)."""

    def __init__(
        self,
        config: AgentConfig,
        client: docker.DockerClient | None = None,
        *,
        connect: Callable[[], docker.DockerClient] | None = None,
    ) -> None:
        self.config = config
        self._client = client
        self._connect = connect or self._from_env
        self._client_lock = threading.Lock()
        self._pull_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def _from_env(self) -> docker.DockerClient:
        # The version check on connecting gets the ping's short timeout: a daemon that
        # accepts but does not answer must not hold every caller for docker_timeout.
        client = docker.from_env(timeout=PING_TIMEOUT)
        client.api.timeout = self.config.docker_timeout
        return client

    @property
    def client(self) -> docker.DockerClient:
        """The SDK client (created on first use from the environment, again after a loss)."""
        with self._client_lock:
            if self._client is None:
                with _engine("connecting"):
                    self._client = self._connect()
            return self._client

    @contextmanager
    def _engine(self, what: str) -> Iterator[None]:
        """``_engine``, dropping the client when the daemon did not answer."""
        try:
            with _engine(what):
                yield
        except DockerUnavailable:
            self.reset()
            raise

    def reset(self) -> None:
        """Drop the SDK client: the next call connects again (dockerd restarted).

        The old client is not closed here: a call of another thread may still use it; it
        is closed when the last one lets go of it.
        """
        with self._client_lock:
            self._client = None

    def close(self) -> None:
        """Close the SDK client."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            with suppress(Exception):
                client.close()

    def ping(self) -> bool:
        """True when the daemon answers ``/_ping`` within ``PING_TIMEOUT`` seconds.

        A failure drops the client, so that the next call reconnects.
        """
        try:
            api = self.client.api
            resp = api.get(f"{api.base_url}/_ping", timeout=PING_TIMEOUT)
            return resp.status_code == 200
        except (DockerException, requests.RequestException, DockerUnavailable) as exc:
            log.debug("Docker ping failed: %s", exc)
            self.reset()
            return False

    def ensure_network(self) -> None:
        """Create the AI network unless it exists (an existing one is used as it is)."""
        name = self.config.network
        with self._engine(f"checking network {name}"):
            found = self.client.networks.list(names=[name])
            existing = [n for n in found if n.name == name]
            if existing:
                internal = bool(existing[0].attrs.get("Internal"))
                if self.config.endpoint_mode == "loopback" and internal:
                    raise StartFailed(
                        f"network {name} is internal: loopback mode cannot publish ports on it"
                    )
                return
            options = {}
            if self.config.endpoint_mode == "loopback":
                # AIs are reached through 127.0.0.1 only: they need not talk to each other.
                options["com.docker.network.bridge.enable_icc"] = "false"
            try:
                self.client.networks.create(
                    name,
                    driver="bridge",
                    internal=self.config.internal_network,
                    options=options,
                    labels={OWNER_LABEL: self.config.owner_id},
                )
            except APIError as exc:
                if exc.status_code != 409:  # created concurrently
                    raise StartFailed(f"cannot create network {name}: {exc.explanation}") from exc
            log.info("created network %s (internal=%s)", name, self.config.internal_network)

    def _pull_lock(self, ref: str) -> threading.Lock:
        with self._locks_guard:
            return self._pull_locks.setdefault(ref, threading.Lock())

    def local_image(self, reference: str) -> Any | None:
        """The local image ``reference`` (``name@digest`` or ``name:tag``), if any."""
        try:
            with self._engine(f"inspecting {reference}"):
                return self.client.images.get(reference)
        except APIError:  # ImageNotFound included: not local (or unreadable): pull
            return None

    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo:
        """Make ``<ref.name>@<digest>`` local (pulled by digest unless it is already there).

        The catalog read ``digest`` from the registry for ``ref``'s tag: pulling and running
        by digest means the bytes that run are the ones it resolved, even if the tag moves.
        """
        pinned = f"{ref.name}@{digest}"
        with self._pull_lock(pinned):
            local = self.local_image(pinned)
            if local is not None:
                log.info("%s is local as %s: no pull", ref, digest)
                return ImageInfo(pinned, local.id, digest, dict(local.labels or {}), False)
            started = time.monotonic()
            try:
                with self._engine(f"pulling {pinned}"):
                    image = self.client.images.pull(
                        ref.name, tag=digest, auth_config=self.config.registry_auth()
                    )
            except APIError as exc:
                raise classify_pull_error(ref, exc) from exc
            log.info("pulled %s (%s) in %.1fs", ref, digest, time.monotonic() - started)
            return ImageInfo(pinned, image.id, digest, dict(image.labels or {}), True)

    def run(self, run: RunSpec) -> ContainerInfo:
        """Create and start the container of ``run``; a failed start leaves nothing behind."""
        kwargs = run_kwargs(self.config, run)
        kwargs.pop("detach")
        with self._engine(f"creating {run.name}"):
            try:
                container = self.client.containers.create(run.image, **kwargs)
            except APIError as exc:
                raise StartFailed(f"cannot create {run.name}: {exc.explanation}") from exc
            try:
                container.start()
                container.reload()
            except APIError as exc:
                self.remove(container.id, graceful=False)
                raise StartFailed(f"cannot start {run.name}: {exc.explanation}") from exc
        return container_info(container.attrs, self.config.owner_id)

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """The container's current state, None when it no longer exists."""
        try:
            with self._engine(f"inspecting {container_id[:12]}"):
                container = self.client.containers.get(container_id)
        except NotFound:
            return None
        return container_info(container.attrs, self.config.owner_id)

    def logs(self, container_id: str, lines: int = 20) -> str:
        """The last ``lines`` of the container's output (empty when unavailable)."""
        try:
            with self._engine("reading logs"):
                raw = self.client.containers.get(container_id).logs(tail=lines)
        except (APIError, DockerUnavailable):
            return ""
        return bytes(raw).decode("utf-8", errors="replace").strip()

    def remove(self, container_id: str, *, graceful: bool = True) -> bool:
        """Stop (SIGTERM, then SIGKILL after ``stop_timeout``) and remove; False if gone.

        ``graceful=False`` kills at once (a start that failed: nobody uses it yet).
        """
        with self._engine(f"removing {container_id[:12]}"):
            try:
                container = self.client.containers.get(container_id)
            except NotFound:
                return False
            try:
                if graceful and container.status in {"running", "restarting", "paused"}:
                    container.stop(timeout=self.config.stop_timeout)
                container.remove(v=True, force=True)
            except NotFound:
                return False
            except APIError as exc:
                if exc.status_code == 409 and "in progress" in str(exc.explanation):
                    self._wait_gone(container_id)
                    return True
                raise
        return True

    def _wait_gone(self, container_id: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                self.client.containers.get(container_id)
            except NotFound:
                return
            time.sleep(0.2)

    def scale(self, container_id: str, replicas: int) -> ContainerInfo:
        """One container per instance: nothing to scale, the container as it is.

        The manager's ``check_replicas`` judged the count (1 on this backend); a container
        that no longer exists is ``UnknownInstance`` (404), as its instance is gone."""
        info = self.inspect(container_id)
        if info is None:
            raise UnknownInstance(
                f"container {container_id[:12]} of the instance no longer exists", "id"
            )
        return info

    def list_owned(self) -> list[ContainerInfo]:
        """Containers named ``aidock-ai-*`` carrying this agent's owner label."""
        label = f"{OWNER_LABEL}={self.config.owner_id}"
        with self._engine("listing containers"):
            found = self.client.containers.list(all=True, filters={"label": label})
        infos = [container_info(c.attrs, self.config.owner_id) for c in found]
        return [info for info in infos if info.name.startswith(CONTAINER_PREFIX)]
