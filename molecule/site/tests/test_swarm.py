"""The site's hosts form one Docker Swarm (roles/swarm): the first manager initialised it, the
others joined (the agent's host as a manager, the other AI host as a worker) with the token read
in the same run (none on disk), every node is ready and active with its labels, and the AIs'
attachable overlay network exists."""

import json

from sitehosts import group

MANAGERS = group("aidock_swarm_managers")
MANAGER = MANAGERS[0]
WORKERS = group("aidock_swarm_workers")
NETWORK = "aidock-swarm"
AI_HOST_LABEL = "ai.aidock.ai-host"

testinfra_hosts = [MANAGER]


def nodes(host) -> dict[str, dict]:
    """`docker node inspect` of every node, by hostname."""
    ids = host.check_output("docker node ls -q").split()
    found = json.loads(host.check_output(f"docker node inspect {' '.join(ids)}"))
    return {node["Description"]["Hostname"]: node for node in found}


def test_every_host_is_a_ready_active_node(host):
    found = nodes(host)
    assert set(found) == {*MANAGERS, *WORKERS}
    for name, node in found.items():
        assert node["Status"]["State"] == "ready", name
        assert node["Spec"]["Availability"] == "active", name
    assert {found[name]["Spec"]["Role"] for name in MANAGERS} == {"manager"}
    # The first manager initialised the swarm and leads it; the others joined as managers.
    assert found[MANAGER]["ManagerStatus"]["Leader"] is True
    assert {found[name]["Spec"]["Role"] for name in WORKERS} == {"worker"}


def test_ai_hosts_carry_their_label(host):
    found = nodes(host)
    ai_hosts = set(group("aidock_ai_hosts"))
    for name, node in found.items():
        labels = node["Spec"].get("Labels") or {}
        assert (labels.get(AI_HOST_LABEL) == "true") == (name in ai_hosts), (name, labels)


def test_overlay_network_is_attachable(host):
    network = json.loads(host.check_output(f"docker network inspect {NETWORK}"))[0]
    assert (network["Driver"], network["Scope"], network["Attachable"]) == (
        "overlay",
        "swarm",
        True,
    )
