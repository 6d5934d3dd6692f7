"""``SwarmOps`` (the swarm backend) through the policy proxy, with the Docker SDK's own request
building: every call it makes is allowed, and means what it sent. No daemon, no swarm."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from urllib.parse import parse_qsl, unquote

from dockerproxy_sdk import DIGEST, decider
from dockerproxy_swarm import SERVICE_ID, FakeSwarmd, run_spec, swarm_ops

from aidock.agent.config import ImageRef


def _flow() -> FakeSwarmd:
    fake = FakeSwarmd(decider())
    ops = swarm_ops(fake)
    assert ops.ping()
    ops.ensure_network()
    image = ops.ensure_image(ImageRef("localhost:5000", "aidock/extraction", "0.1.0"), DIGEST)
    info = ops.run(run_spec(3))
    assert info.running and info.hardened, info.problems
    assert [t.address for t in info.tasks] == ["10.0.1.1", "10.0.1.2", "10.0.1.3"]
    assert {t.node for t in info.tasks} == {"ai-0", "ai-1"}
    assert image.ref.endswith(DIGEST)
    scaled = ops.scale(info.id, 5)
    assert scaled.replicas == 5 and len(scaled.tasks) == 5 and scaled.hardened
    assert [s.id for s in ops.list_owned()] == [SERVICE_ID]
    assert "running" in ops.logs(info.id)
    assert ops.remove(info.id)
    assert ops.inspect(info.id) is None
    assert not ops.remove(info.id)
    return fake


def test_every_swarm_call_is_allowed() -> None:
    fake = _flow()
    routes = {e.forward.route for e in fake.exchanges if e.forward}
    assert routes >= {
        "ping",
        "info",
        "network-list",
        "service-create",
        "service-inspect",
        "service-update",
        "service-list",
        "service-remove",
        "task-list",
        "node-list",
    }
    assert not {r for r in routes if r.startswith(("image-", "container-"))}  # nodes pull


def test_the_only_refusals_are_the_removed_service_answered_404_as_dockerd_would() -> None:
    refused = [e for e in _flow().exchanges if e.refused is not None]
    assert refused  # the task list and inspect after the removal
    for exchange in refused:
        assert exchange.refused is not None
        assert (exchange.refused.status, exchange.refused.rule) == (404, "no-such-service")


def test_forwarded_swarm_requests_mean_what_the_agent_sent() -> None:
    for exchange in _flow().exchanges:
        forward = exchange.forward
        if forward is None:
            continue
        sent_path, _, sent_query = exchange.target.partition("?")
        path, _, query = forward.target.partition("?")
        assert forward.method == exchange.method
        assert path == unquote(sent_path)  # SwarmOps already names services by full id
        params, sent = dict(parse_qsl(query)), dict(parse_qsl(sent_query))
        assert params.keys() == sent.keys()
        for key, value in params.items():
            if key == "filters":
                assert json.loads(value) == json.loads(sent[key])
            else:
                assert value == sent[key]
        if exchange.body:
            assert forward.body is not None
            assert json.loads(forward.body) == json.loads(exchange.body)
        else:
            assert forward.body is None


def test_registry_credentials_go_with_the_service_create(tmp_path: Path) -> None:
    password = tmp_path / "registry.password"
    password.write_text("s3cret\n")
    fake = FakeSwarmd(decider())
    ops = swarm_ops(fake, registry_username="aidock", registry_password_file=password)
    ops.run(run_spec(1))
    assert len(fake.auth_headers) == 1
    decoded = json.loads(base64.urlsafe_b64decode(fake.auth_headers[0]))
    assert decoded == {"username": "aidock", "password": "s3cret"}


def test_task_list_is_confined_by_the_owner_label() -> None:
    fake = FakeSwarmd(decider())
    ops = swarm_ops(fake)
    ops.run(run_spec(1))
    short = SERVICE_ID[:8]
    assert len(ops._tasks(short)) == 1
    task_list = [e for e in fake.exchanges if e.forward and e.forward.route == "task-list"][-1]
    assert task_list.forward is not None
    filters = json.loads(dict(parse_qsl(task_list.forward.target.partition("?")[2]))["filters"])
    assert filters == {"label": ["ai.aidock.owner=aidock-agent"], "service": [short]}


def test_delete_waits_until_swarm_lists_no_task_of_the_service() -> None:
    fake = FakeSwarmd(decider())
    ops = swarm_ops(fake)
    info = ops.run(run_spec(2))
    assert ops.remove(info.id, graceful=False)
    last = [e for e in fake.exchanges if e.forward and e.forward.route == "task-list"][-1]
    assert last.forward is not None
    filters = json.loads(dict(parse_qsl(last.forward.target.partition("?")[2]))["filters"])
    assert filters == {"label": ["ai.aidock.owner=aidock-agent"], "name": [info.name]}
