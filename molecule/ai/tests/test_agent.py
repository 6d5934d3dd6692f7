"""agent: its image is in the registry, its stack runs hardened and token-protected, it lists
the AIs of the scenario's registry, starts, hands out and terminates one, and runs a custom AI
pushed while it runs, by the run contract its labels declare."""

import json
import os
import shlex
from pathlib import Path

import pytest
from testhost import HARDENED, hosts, http, inspect, inspected

testinfra_hosts = hosts()

IMAGE = "localhost:5000/aidock-platform/agent:0.1.0"
CONTAINER = "aidock-agent-agent-1"
PROXY = "aidock-agent-dockerproxy-1"
API = "http://127.0.0.1:8700"
TOKEN = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "agent.token").read_text().strip()
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def test_image_is_in_the_registry(host):
    host.run(f"docker rmi {IMAGE}")  # the stack keeps running; the pull proves the push
    assert host.run(f"docker pull {IMAGE}").rc == 0


@pytest.mark.parametrize(("path", "expected"), HARDENED)
def test_agent_is_hardened(host, path, expected):
    assert inspected(host, CONTAINER, path) == expected


def test_only_the_policy_proxy_gets_the_socket_group(host):
    config = inspect(host, CONTAINER)["HostConfig"]
    assert not config.get("GroupAdd")
    assert config["Privileged"] is False
    assert config["Memory"] > 0
    assert config["PidsLimit"] > 0
    proxy = inspect(host, PROXY)
    gid = host.check_output("stat -c %g /run/aidock/docker/docker.sock")
    assert proxy["HostConfig"]["GroupAdd"] == [gid]
    assert proxy["HostConfig"]["NetworkMode"] == "none"
    assert proxy["State"]["Health"]["Status"] == "healthy"


@pytest.mark.parametrize(("path", "expected"), HARDENED)
def test_policy_proxy_is_hardened(host, path, expected):
    assert inspected(host, PROXY, path) == expected


def test_api_is_published_on_loopback_only(host):
    bindings = inspect(host, CONTAINER)["HostConfig"]["PortBindings"]
    assert bindings == {"8700/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8700"}]}


def test_ai_network_is_internal(host):
    assert inspect(host, "aidock-ai")["Internal"] is True


def test_secrets_belong_to_the_agent_user_only(host):
    for name in ("agent.token", "registry.password"):
        secret = host.file(f"/opt/aidock/stacks/agent/secrets/{name}")
        assert (secret.uid, secret.mode) == (10001, 0o400)


def test_health_answers_without_token(host):
    status, body = http(host, "GET", f"{API}/healthz")
    assert status == 200
    assert body["docker"] is True


def test_api_needs_the_token(host):
    assert http(host, "GET", f"{API}/v1/instances")[0] == 401
    bad = {"Authorization": "Bearer not-the-token-at-all"}
    assert http(host, "GET", f"{API}/v1/instances", headers=bad)[0] == 401
    expected = {"instances": [], "max_instances": 2}  # the inventory setting reached the agent
    assert http(host, "GET", f"{API}/v1/instances", headers=AUTH) == (200, expected)


def test_unknown_ai_is_refused(host):
    status, body = http(host, "POST", f"{API}/v1/instances", {"ai": "nope", "version": "1"}, AUTH)
    assert status == 404
    assert "nope" in body["error"]


def test_missing_version_lists_the_versions(host):
    # The registry answers (with the agent's credentials) that it has no such tag.
    status, body = http(
        host, "POST", f"{API}/v1/instances", {"ai": "rag", "version": "0.0.0-missing"}, AUTH
    )
    assert status == 404
    assert body["field"] == "version"
    assert "versions: 0.1.0" in body["error"]
    assert host.check_output("docker ps -aq --filter label=ai.aidock.owner=aidock-agent") == ""


def test_agent_starts_an_ai_from_the_registry_and_terminates_it(host):
    rag = {"ai": "rag", "version": "0.1.0"}
    status, body = http(host, "POST", f"{API}/v1/instances", rag, AUTH)
    assert status == 201, body
    assert body["schema_version"] == "rag/v1"
    assert body["endpoint"] == f"http://{body['container']}:5001"
    container = inspect(host, body["container"])
    assert container["Config"]["User"] == "10001:10001"
    assert container["HostConfig"]["ReadonlyRootfs"] is True
    assert list(container["NetworkSettings"]["Networks"]) == ["aidock-ai"]
    # Only the agent's side of the network reaches the AI: ask from inside the agent container.
    probe = (
        "import urllib.request;"
        f"print(urllib.request.urlopen({body['endpoint'] + '/readyz'!r}, timeout=10).status)"
    )
    cmd = f"docker exec {CONTAINER} /opt/venv/bin/python -c {shlex.quote(probe)}"
    assert host.check_output(cmd) == "200"

    status, _ = http(host, "DELETE", f"{API}/v1/instances/{body['id']}", headers=AUTH)
    assert status == 204
    gone = host.run(f"docker inspect {body['container']}")
    assert gone.rc != 0
    assert json.loads(gone.stdout or "[]") == []


def test_catalog_lists_the_registry(host):
    status, body = http(host, "GET", f"{API}/v1/ais", headers=AUTH)
    assert status == 200, body
    names = {ai["name"]: ai for ai in body["ais"]}
    assert "agent" not in names  # the agent image is outside the AI namespace
    rag = names["rag"]["versions"][0]
    assert (rag["version"], rag["usable"], rag["schema_version"]) == ("0.1.0", True, "rag/v1")


def test_a_custom_ai_pushed_now_runs_by_its_labels(host):
    """A new image in the namespace is requestable at once; its labels size the container."""
    build = (
        "set -e; d=$(mktemp -d); echo 'FROM localhost:5000/aidock/rag:0.1.0' > $d/Dockerfile;"
        " docker build -q -t localhost:5000/aidock/custom-rag:1"
        " --label ai.aidock.memory=640m --label ai.aidock.pids=128 $d >/dev/null;"
        " docker push -q localhost:5000/aidock/custom-rag:1 >/dev/null; rm -rf $d"
    )
    host.check_output(build)
    custom = {"ai": "custom-rag", "version": "1"}
    status, body = http(host, "POST", f"{API}/v1/instances", custom, AUTH)
    assert status == 201, body
    config = inspect(host, body["container"])["HostConfig"]
    assert (config["Memory"], config["PidsLimit"]) == (640 * 1024 * 1024, 128)
    assert config["ReadonlyRootfs"] is True and config["CapDrop"] == ["ALL"]
    status, _ = http(host, "DELETE", f"{API}/v1/instances/{body['id']}", headers=AUTH)
    assert status == 204
