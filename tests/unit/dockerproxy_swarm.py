"""``FakeDockerd`` as a swarm manager: the proxy's ``Decider`` in front of canned answers for
the routes ``SwarmOps`` uses (services, tasks, nodes). Inspected specs come back as dockerd
returns them (network by id, zero values filled in), so a scale proves that what the agent
sends back still passes the policy.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, unquote

import requests
from dockerproxy_sdk import DIGEST, IMAGE, FakeDockerd, _response, decider, sdk_client

from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import RunSpec
from aidock.agent.swarm_ops import SwarmOps
from aidock.dockerproxy.decide import Forward
from aidock.schemas.manifest import AiManifest

SERVICE_ID = "s3rv1ce" + "0" * 18
NETWORK_ID = "n3tw0rk" + "0" * 18
SPEC = AiManifest(
    schema_version="extraction/v1",
    port=3000,
    tmpfs={"/data": "uid=10001,gid=10001,mode=0700,size=256m", "/tmp": "size=64m,mode=1777"},
)


def run_spec(replicas: int = 3) -> RunSpec:
    return RunSpec(
        "abc123abc123",
        "extraction",
        "0.1.0",
        f"{IMAGE}@{DIGEST}",
        "2026-11-30T00:00:00Z",
        SPEC,
        replicas,
    )


@dataclass
class FakeSwarmd(FakeDockerd):
    """Services by id; ``replicas`` running tasks each, on two nodes."""

    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    auth_headers: list[str] = field(default_factory=list)

    def lookup(self, ref: str, kind: str = "container") -> tuple[str, dict[str, str]] | None:
        if kind == "container":
            return super().lookup(ref)
        for sid, service in self.services.items():
            if ref in (sid, service["Spec"]["Name"]) or sid.startswith(ref):
                return sid, dict(service["Spec"].get("Labels") or {})
        if ref == "aidock-registry":  # someone else's service
            return "f" * 25, {"com.docker.stack.namespace": "registry"}
        return None

    def answer(self, request: requests.PreparedRequest, forward: Forward) -> requests.Response:
        route = forward.route
        path, _, raw_query = forward.target.partition("?")
        query = dict(parse_qsl(raw_query))
        if route == "info":
            swarm = {"LocalNodeState": "active", "ControlAvailable": True}
            return _response(request, 200, {"ApiVersion": "1.45", "Swarm": swarm})
        if route == "network-list":
            net = {
                "Name": "aidock-swarm",
                "Id": NETWORK_ID,
                "Driver": "overlay",
                "Attachable": True,
            }
            return _response(request, 200, [net])
        if route == "service-create":
            spec = json.loads(forward.body or b"{}")
            self.auth_headers.append(forward.headers.get("X-Registry-Auth", ""))
            self.services[SERVICE_ID] = {"ID": SERVICE_ID, "Version": {"Index": 1}, "Spec": spec}
            return _response(request, 201, {"ID": SERVICE_ID})
        if route in {"service-inspect", "service-update", "service-remove"}:
            sid = unquote(path).split("/services/", 1)[1].split("/")[0]
            service = self.services.get(sid)
            if service is None:
                return _response(request, 404, {"message": f"service {sid} not found"})
            if route == "service-inspect":
                return _response(request, 200, echoed(service))
            if route == "service-remove":
                del self.services[sid]
                return _response(request, 200, None)
            if int(query["version"]) != service["Version"]["Index"]:
                return _response(request, 500, {"message": "update out of sequence"})
            service["Spec"] = json.loads(forward.body or b"{}")
            service["Version"]["Index"] += 1
            return _response(request, 200, {"Warnings": None})
        if route == "service-list":
            return _response(request, 200, [echoed(s) for s in self.services.values()])
        if route == "task-list":
            filters = json.loads(query["filters"])
            found = [
                task
                for sid, service in self.services.items()
                if any(sid.startswith(ref) for ref in filters.get("service", [sid]))
                and any(
                    service["Spec"]["Name"] == n
                    for n in filters.get("name", [service["Spec"]["Name"]])
                )
                for task in tasks_of(service)
            ]
            return _response(request, 200, found)
        if route == "node-list":
            nodes = [{"ID": f"node{i}", "Description": {"Hostname": f"ai-{i}"}} for i in (0, 1)]
            return _response(request, 200, nodes)
        return super().answer(request, forward)


def echoed(service: dict[str, Any]) -> dict[str, Any]:
    """The service as dockerd's inspect shows it."""
    out = copy.deepcopy(service)
    template = out["Spec"]["TaskTemplate"]
    template["Networks"] = [{"Target": NETWORK_ID}]
    template["ForceUpdate"] = 0
    template["Runtime"] = "container"
    template["ContainerSpec"]["Isolation"] = "default"
    template["Resources"]["Reservations"] = {}
    return out


def tasks_of(service: dict[str, Any] | None) -> list[dict[str, Any]]:
    if service is None:
        return []
    replicas = service["Spec"]["Mode"]["Replicated"]["Replicas"]
    return [
        {
            "ID": f"task{slot}",
            "ServiceID": service["ID"],
            "Slot": slot,
            "NodeID": f"node{slot % 2}",
            "DesiredState": "running",
            "Status": {"State": "running"},
            "NetworksAttachments": [
                {
                    "Network": {"ID": NETWORK_ID, "Spec": {"Name": "aidock-swarm"}},
                    "Addresses": [f"10.0.1.{slot}/24"],
                }
            ],
        }
        for slot in range(1, replicas + 1)
    ]


def swarm_ops(fake: FakeSwarmd, **settings: Any) -> SwarmOps:
    return SwarmOps(AgentConfig(backend="swarm", **settings), sdk_client(fake))


def swarm_create_body() -> dict[str, Any]:
    """The ``POST /services/create`` body ``SwarmOps.run`` sends."""
    fake = FakeSwarmd(decider())
    swarm_ops(fake).run(run_spec())
    create = next(e for e in fake.exchanges if e.forward and e.forward.route == "service-create")
    return dict(json.loads(create.body))
