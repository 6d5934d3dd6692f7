"""The agent's own Docker calls (``DockerOps`` on the Docker SDK) fed through the proxy's
``Decider`` instead of a socket: every request the SDK prepares is decided, and answered
with a canned dockerd reply for the route that allowed it. What the SDK sent and what the
proxy would forward are recorded side by side.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any
from urllib.parse import parse_qsl, unquote

import docker
import requests
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from aidock.agent import OWNER_LABEL
from aidock.dockerproxy.config import ProxySettings
from aidock.dockerproxy.decide import Decider, Forward, Refused, Request
from aidock.dockerproxy.policy import load_policy

API_VERSION = "1.45"
OWNER = "aidock-agent"
CONTAINER_ID = "c0ffee" + "0" * 58
DIGEST = "sha256:" + "ab" * 32
IMAGE = "localhost:5000/aidock/rag"


def settings(**overrides: Any) -> ProxySettings:
    """Proxy settings matching the agent's defaults (independent of the environment)."""
    values: dict[str, Any] = {
        "registry": "localhost:5000",
        "namespace": "aidock",
        "owner": OWNER,
        "owner_label": OWNER_LABEL,
        "networks": ["aidock-ai"],
    }
    values.update(overrides)
    return ProxySettings(**values)


def decider(**overrides: Any) -> Decider:
    """A ``Decider`` of the packaged policy."""
    config = settings(**overrides)
    return Decider(load_policy(config), config)


@dataclass
class Exchange:
    """One SDK request: as sent, and as decided."""

    method: str
    target: str
    body: bytes
    forward: Forward | None
    refused: Refused | None


@dataclass
class FakeDockerd(BaseAdapter):
    """A requests adapter: the ``Decider`` in front of canned dockerd answers."""

    decider: Decider
    labels: dict[str, dict[str, str]] = field(default_factory=dict)
    exchanges: list[Exchange] = field(default_factory=list)
    local_images: set[str] = field(default_factory=set)
    networks: list[dict[str, Any]] = field(default_factory=list)
    containers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__()

    def lookup(self, ref: str) -> tuple[str, dict[str, str]] | None:
        for cid, attrs in self.containers.items():
            if ref in (cid, attrs["Name"].lstrip("/")) or cid.startswith(ref):
                return cid, attrs["Config"]["Labels"]
        return None

    def send(self, request: requests.PreparedRequest, **_: Any) -> requests.Response:
        body = request.body or b""
        body = body.encode() if isinstance(body, str) else body
        headers = {
            k: v.decode("latin-1") if isinstance(v, bytes) else v
            for k, v in request.headers.items()
        }
        sent = Request(str(request.method), str(request.path_url), headers, body)
        try:
            forward = self.decider.decide(sent, self.lookup)
        except Refused as exc:
            self.exchanges.append(Exchange(sent.method, sent.target, body, None, exc))
            return _response(request, exc.status, exc.answer)
        self.exchanges.append(Exchange(sent.method, sent.target, body, forward, None))
        return self.answer(request, forward)

    def close(self) -> None:
        pass

    def answer(self, request: requests.PreparedRequest, forward: Forward) -> requests.Response:
        route = forward.route
        path = forward.target.split("?")[0]
        if route in {"ping", "version", "info"}:
            return _response(request, 200, {"ApiVersion": API_VERSION} if route != "ping" else "OK")
        if route == "network-list":
            return _response(request, 200, self.networks)
        if route == "network-create":
            net = {"Id": "n" * 64, "Name": json.loads(forward.body or b"{}")["Name"]}
            self.networks.append(net)
            return _response(request, 201, {"Id": net["Id"], "Warning": ""})
        if route == "network-inspect":
            return _response(request, 200, self.networks[0])
        if route == "image-inspect":
            ref = path.split("/images/", 1)[1].rsplit("/json", 1)[0]
            ref = unquote(ref)
            if ref not in self.local_images:
                return _response(request, 404, {"message": f"No such image: {ref}"})
            return _response(request, 200, {"Id": "sha256:" + "1" * 64, "Config": {"Labels": {}}})
        if route == "image-pull":
            query = dict(parse_qsl(forward.target.split("?", 1)[1]))
            self.local_images.add(f"{query['fromImage']}@{query['tag']}")
            return _response(request, 200, {"status": "Downloaded"})
        if route == "container-create":
            spec = json.loads(forward.body or b"{}")
            name = dict(parse_qsl(forward.target.split("?", 1)[1]))["name"]
            self.containers[CONTAINER_ID] = {
                "Id": CONTAINER_ID,
                "Name": f"/{name}",
                "State": {"Status": "created"},
                "Config": {
                    "Labels": spec["Labels"],
                    "User": spec["User"],
                    "Image": spec["Image"],
                    "Tty": True,
                },
                "HostConfig": spec["HostConfig"],
                "NetworkSettings": {"Ports": {}},
            }
            return _response(request, 201, {"Id": CONTAINER_ID, "Warnings": []})
        cid = next(iter(self.containers), CONTAINER_ID)
        attrs = self.containers.get(cid)
        if route == "container-start" and attrs:
            attrs["State"]["Status"] = "running"
            return _response(request, 204, None)
        if route == "container-inspect" and attrs:
            return _response(request, 200, attrs)
        if route == "container-list":
            return _response(request, 200, [{"Id": c} for c in self.containers])
        if route == "container-logs":
            return _response(request, 200, b"ready\n")
        if route == "container-stop" and attrs:
            attrs["State"]["Status"] = "exited"
            return _response(request, 204, None)
        if route == "container-remove":
            self.containers.pop(cid, None)
            return _response(request, 204, None)
        return _response(request, 500, {"message": f"no canned answer for {route}"})


def _response(request: requests.PreparedRequest, status: int, body: Any) -> requests.Response:
    resp = requests.Response()
    resp.status_code = status
    if isinstance(body, bytes):
        resp._content = body
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/octet-stream"})
    else:
        resp._content = json.dumps(body).encode() if body is not None else b""
        resp.headers = CaseInsensitiveDict({"Content-Type": "application/json"})
    resp.url = str(request.url)
    resp.request = request
    resp.raw = SimpleNamespace(_fp=SimpleNamespace(chunked=False))
    return resp


def sdk_client(fake: FakeDockerd) -> docker.DockerClient:
    """A Docker SDK client whose every request goes to ``fake``."""
    client = docker.DockerClient(base_url="unix:///nonexistent.sock", version=API_VERSION)
    client.api.mount("http+docker://", fake)
    return client


def agent_create_body(mode: str = "loopback") -> dict[str, Any]:
    """The ``POST /containers/create`` body the agent's ``DockerOps.run`` sends."""
    from aidock.agent.config import AgentConfig  # noqa: PLC0415  agent only for this helper
    from aidock.agent.docker_ops import DockerOps, RunSpec  # noqa: PLC0415  same
    from aidock.schemas.manifest import AiManifest  # noqa: PLC0415  same

    fake = FakeDockerd(decider())
    spec = AiManifest(schema_version="rag/v1", port=5001, tmpfs={"/tmp": "size=64m,mode=1777"})
    run = RunSpec("abc123abc123", "rag", "0.1.0", f"{IMAGE}@{DIGEST}", "2026-11-30T00:00:00Z", spec)
    DockerOps(AgentConfig(endpoint_mode=mode), sdk_client(fake)).run(run)
    create = next(e for e in fake.exchanges if e.forward and e.forward.route == "container-create")
    return dict(json.loads(create.body))
