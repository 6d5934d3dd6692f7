"""An AI instance as the agent knows it, and what the instance manager needs from outside.

``Instance`` (and its API form), the two ports the manager is written against (``Catalog``: the
registry, ``ContainerOps``: Docker; each with a real implementation and fakes in the unit tests),
and the small helpers both the manager and the app use (ids, UTC times, endpoints, the
readiness probe). The lifecycle policies live with the manager in ``aidock.agent.instances``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import urlsplit

import requests

from aidock.agent import AI_LABEL, INSTANCE_LABEL, STARTED_AT_LABEL, VERSION_LABEL
from aidock.agent.catalog import AiEntry, AiVersion
from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import ContainerInfo, ImageInfo, RunSpec, TaskInfo, container_name
from aidock.schemas.agent import InstanceOut
from aidock.schemas.manifest import AiManifest, ManifestError

ADOPT_PROBE_TIMEOUT = 3.0

LOG_TAIL_LINES = 20

Prober = Callable[[str, float], bool]
LostHandler = Callable[[float], None]


class Catalog(Protocol):
    """What the manager needs from the registry (``RegistryCatalog``, or a fake)."""

    def resolve(self, ai: str, tag: str) -> AiVersion: ...
    def entry(self, ai: str) -> AiEntry: ...
    def list(self) -> list[AiEntry]: ...


class ContainerOps(Protocol):
    """What the manager needs from Docker (``DockerOps``, or a fake in unit tests)."""

    def ping(self) -> bool: ...
    def ensure_network(self) -> None: ...
    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo: ...
    def run(self, run: RunSpec) -> ContainerInfo: ...
    def inspect(self, container_id: str) -> ContainerInfo | None: ...
    def logs(self, container_id: str, lines: int = LOG_TAIL_LINES) -> str: ...
    def remove(self, container_id: str, *, graceful: bool = True) -> bool: ...
    def list_owned(self) -> list[ContainerInfo]: ...
    def scale(self, container_id: str, replicas: int) -> ContainerInfo: ...


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
    replicas: int = 1
    # Every replica's base URL (swarm: each running task's address on the overlay network).
    endpoints: list[str] = field(default_factory=list)

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
            replicas=self.replicas,
            endpoints=list(self.endpoints) or [self.endpoint],
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
    """Base URL of the AI in ``info`` for this agent's endpoint mode (swarm: the service's
    name, which resolves to every task's address on the overlay network)."""
    if config.backend == "swarm" or config.endpoint_mode == "network":
        return f"http://{info.name}:{spec.port}"
    host_port = info.host_ports.get(spec.port)
    return f"http://127.0.0.1:{host_port}" if host_port else None


def parse_time(text: str | None) -> datetime | None:
    """An ISO 8601 label value as aware UTC; None when absent or unreadable."""
    if not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def adoptable(
    info: ContainerInfo, config: AgentConfig, probe: Prober, last_used: float
) -> tuple[Instance | None, str]:
    """``info`` as an instance when this agent may adopt it (running, hardened as the agent
    runs AIs, labelled, carrying a valid manifest, ready); else None and the reason."""
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
    if info.name != container_name(ai, instance_id, config.backend):
        return None, "its name does not match its labels"
    endpoint = endpoint_of(config, spec, info)
    if endpoint is None:
        return None, f"port {spec.port} is not published on 127.0.0.1"
    if not probe(endpoint + spec.ready_path, ADOPT_PROBE_TIMEOUT):
        return None, "it is not ready"
    now = utcnow()
    started = parse_time(info.labels.get(STARTED_AT_LABEL)) or now
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
            last_used=last_used,
            last_used_at=now,
            ready_path=spec.ready_path,
            replicas=info.replicas,
            endpoints=task_endpoints(info, spec.port),
        ),
        "",
    )


def port_of(endpoint: str) -> int:
    """The port of an endpoint URL (``http://name:port``)."""
    return urlsplit(endpoint).port or 80


def task_url(task: TaskInfo, port: int) -> str:
    """Base URL of a task on the overlay network (it has an address)."""
    return f"http://{task.address}:{port}"


def task_endpoints(info: ContainerInfo, port: int, known: Collection[str] = ()) -> list[str]:
    """Base URLs of a service's ready tasks (empty for a container): those Swarm reports
    running (their health check passed) and, among those it is still starting, the ones in
    ``known`` (the agent saw them answer its readiness probe), in slot order."""
    urls = [
        task_url(t, port)
        for t in info.tasks
        if t.started and t.address and (t.running or task_url(t, port) in known)
    ]
    return list(dict.fromkeys(urls))
