"""The agent's real Docker calls (``DockerOps``) pass the proxy's policy, unchanged in meaning.

``dockerproxy_sdk.FakeDockerd`` sits where the Docker socket would be: each request the
Docker SDK prepares for ``DockerOps`` is decided by the proxy and answered like dockerd.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import parse_qsl, unquote

import pytest
from dockerproxy_sdk import CONTAINER_ID, DIGEST, FakeDockerd, decider, sdk_client

from aidock.agent.config import AgentConfig, ImageRef
from aidock.agent.docker_ops import DockerOps, RunSpec
from aidock.schemas.manifest import AiManifest

SPEC = AiManifest(
    schema_version="rag/v1",
    port=5001,
    tmpfs={"/data": "uid=10001,gid=10001,mode=0700,size=256m", "/tmp": "size=64m,mode=1777"},
)


def _flow(mode: str) -> FakeDockerd:
    fake = FakeDockerd(decider())
    ops = DockerOps(AgentConfig(endpoint_mode=mode), sdk_client(fake))
    assert ops.ping()
    ops.ensure_network()
    image = ops.ensure_image(ImageRef("localhost:5000", "aidock/rag", "0.1.0"), DIGEST)
    info = ops.run(RunSpec("abc123abc123", "rag", "0.1.0", image.ref, "2026-11-30T00:00:00Z", SPEC))
    assert info.running and info.hardened
    assert ops.inspect(info.id) is not None
    assert ops.logs(info.id) == "ready"
    assert [c.id for c in ops.list_owned()] == [CONTAINER_ID]
    assert ops.remove(info.id)
    return fake


@pytest.mark.parametrize("mode", ["network", "loopback"])
def test_every_agent_call_is_allowed(mode: str) -> None:
    fake = _flow(mode)
    refused = [(e.method, e.target, e.refused.answer) for e in fake.exchanges if e.refused]
    assert not refused
    routes = {e.forward.route for e in fake.exchanges if e.forward}
    assert routes >= {
        "ping",
        "network-list",
        "network-create",
        "network-inspect",
        "image-inspect",
        "image-pull",
        "container-create",
        "container-start",
        "container-inspect",
        "container-logs",
        "container-list",
        "container-stop",
        "container-remove",
    }


@pytest.mark.parametrize("mode", ["network", "loopback"])
def test_forwarded_requests_mean_what_the_agent_sent(mode: str) -> None:
    for exchange in _flow(mode).exchanges:
        forward = exchange.forward
        assert forward is not None
        sent_path, _, sent_query = exchange.target.partition("?")
        path, _, query = forward.target.partition("?")
        assert forward.method == exchange.method
        assert path == unquote(sent_path)
        sent_params = dict(parse_qsl(sent_query))
        params = dict(parse_qsl(query))
        assert params.keys() == sent_params.keys()
        for key, value in params.items():
            if key == "filters":
                assert json.loads(value) == json.loads(sent_params[key])
            else:
                assert value == sent_params[key]
        if exchange.body:
            assert forward.body is not None
            assert json.loads(forward.body) == json.loads(exchange.body)
            assert forward.headers["Content-Type"] == "application/json"
        else:
            assert forward.body is None


def test_registry_credentials_reach_dockerd(tmp_path: Path) -> None:
    password = tmp_path / "registry.password"
    password.write_text("s3cret\n")
    fake = FakeDockerd(decider())
    config = AgentConfig(registry_username="aidock", registry_password_file=password)
    DockerOps(config, sdk_client(fake)).ensure_image(
        ImageRef("localhost:5000", "aidock/rag", "0.1.0"), DIGEST
    )
    pull = next(e for e in fake.exchanges if e.forward and e.forward.route == "image-pull")
    assert pull.forward is not None
    assert "X-Registry-Auth" in pull.forward.headers
