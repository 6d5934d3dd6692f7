"""The swarm backend: every Engine API call of the agent when AIs run as Swarm services.

``SwarmOps`` is the counterpart of ``DockerOps`` behind the same ``ContainerOps`` port: an
instance is one replicated service ``aidock-ai-<ai>-<id>`` on the attachable overlay network
the swarm role makes (``swarm_network``), placed by ``swarm_constraint`` and spread over
``node.id``, reached by its DNS name (``EndpointSpec.Mode`` dnsrr: this kernel has no IPVS for
Swarm's virtual IPs) and by each task's address on that network. The agent talks to a swarm
manager (through the policy proxy) and must itself be attached to the overlay network.

Hardening is the one ``DockerOps`` enforces, written in the service's task template through
the low-level API (the SDK's ``ContainerSpec`` has no no-new-privileges and no pids limit):
uid/gid 10001, read-only root, the manifest's tmpfs mounts as anonymous tmpfs volumes
(``tmpfs_mounts``; a service-level ``tmpfs`` key does not exist), ``CapabilityDrop: [ALL]``,
``Privileges.NoNewPrivileges``, memory/CPU/pids limits, the owner, AI, version, instance and
started-at labels on the service and on its containers, a restart policy with a bound. The
image is named by digest, so every node runs the same bytes; the registry credentials go
with the create (``X-Registry-Auth``) and Swarm hands them to the nodes that pull.

molecule/site runs it on three nodes (``molecule/site/tests/test_swarm_backend.py``); the unit
tests drive it through the Docker SDK's request building and the policy proxy's decisions.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from typing import Any

from docker import auth
from docker.errors import APIError, NotFound
from docker.utils import parse_bytes

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
from aidock.agent.docker_ops import (
    ContainerInfo,
    DockerOps,
    ImageInfo,
    RunSpec,
    TaskInfo,
    container_name,
)
from aidock.agent.errors import StartFailed

log = logging.getLogger(__name__)

SECOND = 1_000_000_000  # the Engine API's durations are nanoseconds
RESTART_DELAY = 5 * SECOND
# Restarts count within this window: a crash loop is bounded, a node lost now and then is not.
RESTART_WINDOW = 120 * SECOND
# The image's check while the AI starts: a task joins the service's DNS name only once it passed
# (the agent waits for one such task), and stops running it once healthy (then the image's
# interval). Half a second: measured on molecule/site, 1 replica ready 0.5 s sooner than with 1 s
# and 3 replicas no slower (bench/results/swarm.md).
HEALTH_START_INTERVAL = SECOND // 2
GONE_GRACE = 30.0  # seconds on top of stop_timeout for a service's tasks to go
# Task states after which no container runs for the task.
DONE_STATES = frozenset({"complete", "shutdown", "failed", "rejected", "orphaned", "remove"})
# Options of the manifest's tmpfs mounts that reach the mount (with size), and the flags
# Docker's --tmpfs always sets.
MOUNT_OWNER_KEYS = ("uid", "gid", "mode")
MOUNT_FLAGS = ("nosuid", "nodev", "noexec")


def tmpfs_mounts(tmpfs: dict[str, str], memory_bytes: int) -> list[dict[str, Any]]:
    """The manifest's tmpfs mounts (Docker ``--tmpfs`` options) as service ``Mounts``.

    Each is an anonymous volume of the local driver with ``type=tmpfs,device=tmpfs``: memory,
    one per task, removed with the task's container, mounted with the manifest's ``uid``,
    ``gid``, ``mode`` and ``size`` (the memory limit when it names none) and, as ``--tmpfs``
    does, ``nosuid,nodev,noexec``. Not a mount of type tmpfs: API 1.45's ``TmpfsOptions``
    take no owner, and runc gives such a mount the mode of the image's directory, so a
    ``/data`` of uid 10001 became root's 0755 and the AI could not write it (seen on the
    site's swarm). Other options are dropped.
    """
    mounts: list[dict[str, Any]] = []
    for path, text in tmpfs.items():
        options = dict(
            (item.partition("=")[0], item.partition("=")[2]) for item in text.split(",") if item
        )
        size = parse_bytes(options["size"]) if options.get("size") else memory_bytes
        kept = [f"{key}={options[key]}" for key in MOUNT_OWNER_KEYS if options.get(key)]
        mount_options = ",".join([*kept, f"size={int(size)}", *MOUNT_FLAGS])
        mounts.append(
            {
                "Type": "volume",
                "Target": path,
                "VolumeOptions": {
                    "DriverConfig": {
                        "Name": "local",
                        "Options": {"type": "tmpfs", "device": "tmpfs", "o": mount_options},
                    }
                },
            }
        )
    return mounts


def is_tmpfs_volume(mount: dict[str, Any]) -> bool:
    """True for a mount ``tmpfs_mounts`` makes: an anonymous local volume of type tmpfs."""
    driver = (mount.get("VolumeOptions") or {}).get("DriverConfig") or {}
    options = driver.get("Options") or {}
    return (
        mount.get("Type") == "volume"
        and not mount.get("Source")
        and driver.get("Name") == "local"
        and options.get("type") == "tmpfs"
        and options.get("device") == "tmpfs"
    )


def service_spec(config: AgentConfig, run: RunSpec) -> dict[str, Any]:
    """The ``POST /services/create`` body for ``run`` (hardening enforced)."""
    spec = run.spec
    memory = int(parse_bytes(spec.memory))
    labels = {
        OWNER_LABEL: config.owner_id,
        AI_LABEL: run.ai,
        VERSION_LABEL: run.version,
        STARTED_AT_LABEL: run.started_at,
        INSTANCE_LABEL: run.instance_id,
    }
    return {
        "Name": container_name(run.ai, run.instance_id, "swarm"),
        # The manifest as labels too: a restarted agent adopts a service from its spec alone.
        "Labels": {**spec.to_labels(), **labels},
        "TaskTemplate": {
            "ContainerSpec": {
                "Image": run.image,
                "Labels": labels,
                "User": RUN_AS,
                "ReadOnly": True,
                "Mounts": tmpfs_mounts(spec.tmpfs, memory),
                "CapabilityDrop": ["ALL"],
                "Privileges": {"NoNewPrivileges": True},
                "StopGracePeriod": config.stop_timeout * SECOND,
                # The image's own check (no Test: dockerd keeps the image's command), run every
                # HEALTH_START_INTERVAL while the AI starts: Swarm reports a task running and
                # names it in the service's DNS only once it is healthy, and the image's first
                # check would come after its interval (5 s).
                "Healthcheck": {
                    "StartPeriod": int((spec.start_timeout or config.start_timeout) * SECOND),
                    "StartInterval": HEALTH_START_INTERVAL,
                },
            },
            "Resources": {
                "Limits": {"MemoryBytes": memory, "NanoCPUs": spec.nano_cpus, "Pids": spec.pids}
            },
            "RestartPolicy": {
                "Condition": "any",
                "Delay": RESTART_DELAY,
                "MaxAttempts": config.swarm_restart_max_attempts,
                "Window": RESTART_WINDOW,
            },
            "Placement": {
                "Constraints": [config.swarm_constraint],
                "Preferences": [{"Spread": {"SpreadDescriptor": "node.id"}}],
            },
            "Networks": [{"Target": config.swarm_network}],
        },
        "Mode": {"Replicated": {"Replicas": run.replicas}},
        "EndpointSpec": {"Mode": "dnsrr"},
    }


def scaled_spec(current: dict[str, Any], replicas: int, network: str) -> dict[str, Any]:
    """The spec to send back to scale: ``current`` (as inspected) with ``replicas``.

    dockerd echoes the network by id, and zero values it filled in; the network is named
    again (the same one: the agent only ever attaches ``network``) and those zeros dropped,
    so that the update passes the same checks as the create.
    """
    spec = copy.deepcopy(current)
    spec["Mode"] = {"Replicated": {"Replicas": replicas}}
    template = spec.setdefault("TaskTemplate", {})
    template["Networks"] = [{"Target": network}]
    if not template.get("ForceUpdate"):
        template.pop("ForceUpdate", None)
    resources = template.get("Resources") or {}
    if not resources.get("Reservations"):
        resources.pop("Reservations", None)
    return spec


def hardening_problems(spec: dict[str, Any], owner_id: str) -> tuple[str, ...]:
    """Ways an inspected service spec differs from what this agent would have created."""
    template = spec.get("TaskTemplate") or {}
    container = template.get("ContainerSpec") or {}
    limits = (template.get("Resources") or {}).get("Limits") or {}
    restart = template.get("RestartPolicy") or {}
    problems: list[str] = []
    if (spec.get("Labels") or {}).get(OWNER_LABEL) != owner_id:
        problems.append("owner label differs")
    if (container.get("Labels") or {}).get(OWNER_LABEL) != owner_id:
        problems.append("owner label of its containers differs")
    if "@sha256:" not in str(container.get("Image", "")):
        problems.append("image not named by digest")
    if container.get("User") != RUN_AS:
        problems.append(f"user is {container.get('User')!r}, not {RUN_AS}")
    if not container.get("ReadOnly"):
        problems.append("root filesystem is writable")
    if "ALL" not in (container.get("CapabilityDrop") or []) or container.get("CapabilityAdd"):
        problems.append("capabilities are not all dropped")
    if not (container.get("Privileges") or {}).get("NoNewPrivileges"):
        problems.append("no-new-privileges is not set")
    if not all(is_tmpfs_volume(m) for m in container.get("Mounts") or []):
        problems.append("a mount other than an anonymous tmpfs volume")
    if not limits.get("MemoryBytes") or not limits.get("NanoCPUs") or not limits.get("Pids"):
        problems.append("memory, CPU or PID limit missing")
    if restart.get("Condition") != "none" and not restart.get("MaxAttempts"):
        problems.append("restart policy without a bound")
    endpoint = spec.get("EndpointSpec") or {}
    if endpoint.get("Mode") != "dnsrr" or endpoint.get("Ports"):
        problems.append("not endpoint mode dnsrr without published ports")
    return tuple(problems)


def task_info(task: dict[str, Any], network: str, nodes: dict[str, str]) -> TaskInfo:
    """``TaskInfo`` from one ``GET /tasks`` entry; ``address`` on ``network``."""
    status = task.get("Status") or {}
    address = None
    for attachment in task.get("NetworksAttachments") or []:
        names = {(attachment.get("Network") or {}).get("Spec", {}).get("Name")}
        names.add((attachment.get("Network") or {}).get("ID"))
        if network in names and attachment.get("Addresses"):
            address = str(attachment["Addresses"][0]).partition("/")[0]
    node_id = str(task.get("NodeID", ""))
    return TaskInfo(
        id=str(task.get("ID", "")),
        slot=int(task.get("Slot") or 0),
        node_id=node_id,
        state=str(status.get("State", "unknown")),
        desired_state=str(task.get("DesiredState", "unknown")),
        address=address,
        node=nodes.get(node_id, ""),
        error=str(status.get("Err", "")),
    )


def service_status(replicas: int, tasks: tuple[TaskInfo, ...]) -> str:
    """running (a task runs), starting (Swarm is placing or starting them), failed."""
    wanted = [t for t in tasks if t.desired_state == "running"]
    if any(t.running for t in wanted):
        return "running"
    if wanted or (replicas > 0 and not tasks):
        return "starting"
    return "failed" if replicas > 0 else "scaled to 0"


TasksDone = Callable[[tuple[TaskInfo, ...]], bool]


def _reaped(tasks: tuple[TaskInfo, ...]) -> bool:
    """Every task stopped, and none left that Swarm's task reaper is about to delete.

    Scaling down marks tasks ``remove``; once stopped, the leader's task reaper deletes them.
    Removing the service while it does races with it: dockerd 26.1 (swarmkit before
    moby/swarmkit pull request 3222) dereferences a task deleted under it in
    ``SetServiceTasksRemove`` and the leader crashes. It did, in molecule/site, on a DELETE
    that came right after a scale-down; with two managers the swarm then had no leader.
    """
    return all(t.state in DONE_STATES and t.desired_state != "remove" for t in tasks)


class SwarmOps(DockerOps):
    """Swarm service operations of one agent (connection handling from ``DockerOps``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._node_names: dict[str, str] = {}  # node id -> hostname (see _task_infos)

    def ensure_network(self) -> None:
        """Check that this engine is a swarm manager and the overlay network is there.

        The swarm role forms the swarm and makes the network: the agent creates neither.
        """
        network = self.config.swarm_network
        with self._engine("reading the swarm state"):
            info = self.client.api.info()
            swarm = info.get("Swarm") or {}
            if swarm.get("LocalNodeState") != "active" or not swarm.get("ControlAvailable"):
                raise StartFailed(
                    "backend swarm: this engine is not a swarm manager (LocalNodeState "
                    f"{swarm.get('LocalNodeState')!r}); run the agent on a manager"
                )
            found = [n for n in self.client.api.networks(names=[network]) if n["Name"] == network]
        if not found or found[0].get("Driver") != "overlay" or not found[0].get("Attachable"):
            raise StartFailed(
                f"swarm_network: {network} is not an attachable overlay network here "
                "(the swarm role makes it)"
            )

    def ensure_image(self, ref: ImageRef, digest: str) -> ImageInfo:
        """Nothing to pull here: the nodes pull ``<ref.name>@<digest>`` themselves."""
        return ImageInfo(f"{ref.name}@{digest}", "", digest, {}, False)

    def _registry_header(self) -> dict[str, str]:
        creds = self.config.registry_auth()
        if creds is None:
            return {}
        return {"X-Registry-Auth": auth.encode_header(creds)}

    def run(self, run: RunSpec) -> ContainerInfo:
        """Create the service of ``run``; its tasks start on the nodes Swarm picks."""
        body = service_spec(self.config, run)
        name = body["Name"]
        api = self.client.api
        with self._engine(f"creating service {name}"):
            try:
                resp = api._post_json(
                    api._url("/services/create"), data=body, headers=self._registry_header()
                )
                created = api._result(resp, json=True)
            except APIError as exc:
                raise StartFailed(f"cannot create service {name}: {exc.explanation}") from exc
        for warning in created.get("Warnings") or []:
            log.warning("service %s: %s", name, warning)
        info = self.inspect(str(created["ID"]))
        if info is None:
            raise StartFailed(f"service {name} vanished right after it was created")
        return info

    def _nodes(self) -> dict[str, str]:
        try:
            return {
                str(n["ID"]): str((n.get("Description") or {}).get("Hostname", ""))
                for n in self.client.api.nodes()
            }
        except APIError:
            return {}

    def _owner_filter(self) -> list[str]:
        return [f"{OWNER_LABEL}={self.config.owner_id}"]

    def _tasks(self, service_id: str) -> tuple[TaskInfo, ...]:
        tasks = self.client.api.tasks(
            filters={"label": self._owner_filter(), "service": service_id}
        )
        return self._task_infos(tasks)

    def _task_infos(self, tasks: list[dict[str, Any]]) -> tuple[TaskInfo, ...]:
        # Node names are read again only for a node not seen before: readiness reads the
        # tasks ten times a second, and the nodes of a site rarely change.
        wanted = {str(t.get("NodeID")) for t in tasks if t.get("NodeID")}
        if not wanted <= self._node_names.keys():
            self._node_names = self._nodes()
        infos = [task_info(t, self.config.swarm_network, self._node_names) for t in tasks]
        return tuple(sorted(infos, key=lambda t: (t.slot, t.desired_state != "running")))

    def _info(self, service: dict[str, Any]) -> ContainerInfo:
        spec = service.get("Spec") or {}
        replicas = int(((spec.get("Mode") or {}).get("Replicated") or {}).get("Replicas") or 0)
        tasks = self._tasks(str(service["ID"]))
        container = (spec.get("TaskTemplate") or {}).get("ContainerSpec") or {}
        return ContainerInfo(
            id=str(service["ID"]),
            name=str(spec.get("Name", "")),
            labels=dict(spec.get("Labels") or {}),
            status=service_status(replicas, tasks),
            image=str(container.get("Image", "")),
            problems=hardening_problems(spec, self.config.owner_id),
            replicas=replicas,
            tasks=tasks,
        )

    def _service(self, service_id: str) -> dict[str, Any] | None:
        try:
            with self._engine(f"inspecting service {service_id[:12]}"):
                return dict(self.client.api.inspect_service(service_id))
        except NotFound:
            return None

    def inspect(self, container_id: str) -> ContainerInfo | None:
        """The service and its tasks now, None when the service no longer exists."""
        service = self._service(container_id)
        if service is None:
            return None
        try:
            with self._engine(f"listing the tasks of {container_id[:12]}"):
                return self._info(service)
        except NotFound:
            return None

    def logs(self, container_id: str, lines: int = 20) -> str:
        """What Swarm says about the service's tasks (their states and errors).

        Task logs would need ``/services/{id}/logs`` through the proxy; the errors say why a
        task did not start (no suitable node, image not found, exit code).
        """
        info = self.inspect(container_id)
        if info is None:
            return ""
        text = [
            f"task {t.slot} on {t.node or t.node_id[:12]}: {t.state}"
            + (f" ({t.error})" if t.error else "")
            for t in info.tasks
        ]
        return "\n".join(text[-lines:])

    def scale(self, container_id: str, replicas: int) -> ContainerInfo:
        """Set the service's replicas; returns at once (the manager waits for readiness)."""
        service = self._service(container_id)
        if service is None:
            raise StartFailed(f"service {container_id[:12]} no longer exists")
        spec = scaled_spec(service["Spec"], replicas, self.config.swarm_network)
        version = int((service.get("Version") or {}).get("Index", 0))
        api = self.client.api
        with self._engine(f"scaling {spec.get('Name')}"):
            try:
                resp = api._post_json(
                    api._url("/services/{0}/update", service["ID"]),
                    data=spec,
                    params={"version": version},
                )
                api._result(resp, json=True)
            except APIError as exc:
                raise StartFailed(f"cannot scale {spec.get('Name')}: {exc.explanation}") from exc
        info = self.inspect(container_id)
        if info is None:
            raise StartFailed(f"service {spec.get('Name')} vanished while scaling")
        return info

    def remove(self, container_id: str, *, graceful: bool = True) -> bool:
        """Scale to 0 and wait until the tasks stopped and the scaled-down ones were deleted
        (``graceful``; see ``_reaped``), then remove the service and return once Swarm lists
        none of its tasks (bounded); False if it was gone."""
        deadline = time.monotonic() + self.config.stop_timeout + GONE_GRACE
        service = self._service(container_id)
        if service is None:
            return False
        full_id = str(service["ID"])
        if graceful:
            try:
                self.scale(full_id, 0)
                self._wait(full_id, deadline, _reaped)
            except StartFailed as exc:
                log.warning("%s; removing it at once", exc.message)
        name = str((service.get("Spec") or {}).get("Name", ""))
        with self._engine(f"removing service {full_id[:12]}"):
            try:
                self.client.api.remove_service(full_id)
            except NotFound:
                return False
        self._wait_removed(full_id, name, deadline)
        return True

    def _wait_removed(self, service_id: str, name: str, deadline: float) -> None:
        """Until Swarm lists no task of the removed service (its nodes stopped and removed
        the containers). Asked by owner label and name: dockerd no longer resolves the id."""
        filters = {"label": self._owner_filter(), "name": [name]}
        while True:
            with self._engine(f"listing the tasks of removed {name}"):
                left = [
                    t
                    for t in self.client.api.tasks(filters=filters)
                    if t.get("ServiceID") == service_id
                ]
            if not left:
                return
            if time.monotonic() >= deadline:
                log.warning("service %s: %d tasks still listed after removal", name, len(left))
                return
            time.sleep(0.5)

    def _wait(self, service_id: str, deadline: float, done: TasksDone) -> None:
        while True:
            try:
                with self._engine(f"listing the tasks of {service_id[:12]}"):
                    tasks = self._tasks(service_id)
            except NotFound:  # dockerd no longer resolves the service: no task left
                return
            if done(tasks) or time.monotonic() >= deadline:
                if not done(tasks):
                    log.warning("service %s: tasks still listed: %s", service_id[:12], tasks)
                return
            time.sleep(0.5)

    def list_owned(self) -> list[ContainerInfo]:
        """Services named ``aidock-ai-*`` carrying this agent's owner label."""
        label = f"{OWNER_LABEL}={self.config.owner_id}"
        with self._engine("listing services"):
            found = self.client.api.services(filters={"label": label})
            infos = [self._info(s) for s in found]
        return [info for info in infos if info.name.startswith(CONTAINER_PREFIX)]
