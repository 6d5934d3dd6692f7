"""The agent runs on its own host, pulled from the registry, and starts AIs from that registry:
it reads the catalog over the registry's API by the registry's name, runs the AI by digest (as a
Swarm service: the agent's host is a swarm manager), hands out a ready instance and terminates
it."""

import json
import shlex

from sitehosts import (
    AGENT_HOST,
    NAMESPACE,
    PLATFORM_NAMESPACE,
    RAG,
    RAG_VERSION,
    REGISTRY,
    image,
    registry_digest,
    secret,
)
from testhost import http, inspect

testinfra_hosts = [AGENT_HOST]

CONTAINER = "aidock-agent-agent-1"
API = "http://127.0.0.1:8700"


def auth() -> dict:
    return {"Authorization": f"Bearer {secret('agent.token')}"}


def test_agent_host_runs_the_agent_and_no_ai_stack(host):
    projects = host.check_output(
        "docker ps -a --format '{{.Label \"com.docker.compose.project\"}}'"
    ).split()
    assert set(projects) == {"aidock-agent"}, projects
    assert inspect(host, CONTAINER)["State"]["Health"]["Status"] == "healthy"


def test_agent_image_came_from_the_registry(host):
    repository = f"{PLATFORM_NAMESPACE}/agent"
    digest = registry_digest(host, repository, "0.1.0")
    container = inspect(host, CONTAINER)
    # By the digest the build host recorded at push, not by the tag.
    assert container["Config"]["Image"] == f"{REGISTRY}/{repository}:0.1.0@{digest}"
    running = image(host, container["Image"])
    assert f"{REGISTRY}/{repository}@{digest}" in running["RepoDigests"]


def test_catalog_is_read_from_the_registry(host):
    status, body = http(host, "GET", f"{API}/v1/ais", headers=auth())
    assert status == 200, body
    versions = {ai["name"]: ai["versions"] for ai in body["ais"]}
    assert [v["version"] for v in versions[RAG]] == [RAG_VERSION]
    assert versions[RAG][0]["usable"] is True


def test_agent_starts_an_ai_from_the_registry_and_terminates_it(host):
    # The agent's host is a swarm manager (agent_backend swarm): the instance is a Swarm service
    # of the registry's digest; test_swarm_backend.py checks its tasks on their nodes.
    status, body = http(
        host, "POST", f"{API}/v1/instances", {"ai": RAG, "version": RAG_VERSION}, auth()
    )
    assert status == 201, body
    repository = f"{NAMESPACE}/{RAG}"
    digest = registry_digest(host, repository, RAG_VERSION)
    service = json.loads(host.check_output(f"docker service inspect {body['container']}"))[0]
    image_ref = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
    assert image_ref == f"{REGISTRY}/{repository}@{digest}"
    # Ready when handed out: its readiness answers from the agent's side of the overlay network,
    # by the service's name (endpoint mode dnsrr).
    probe = (
        "import urllib.request;"
        f"print(urllib.request.urlopen({body['endpoint'] + '/readyz'!r}, timeout=10).status)"
    )
    assert (
        host.check_output(f"docker exec {CONTAINER} /opt/venv/bin/python -c {shlex.quote(probe)}")
        == "200"
    )

    status, _ = http(host, "DELETE", f"{API}/v1/instances/{body['id']}", headers=auth())
    assert status == 204
    assert host.run(f"docker service inspect {body['container']}").rc != 0
