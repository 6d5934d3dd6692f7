"""The agent's swarm backend on the site's three-node swarm (issue 11).

The agent's host is a swarm manager, so its agent runs each AI instance as a Swarm service
(agent_backend swarm, inventories/example/group_vars/aidock_swarm_managers/). Here, with the
scenario's one AI (rag): three replicas land on both AI hosts, each task's container is hardened
on its node, the worker spreads a batch of 300 documents over every replica with each document
exactly once, a restarted agent adopts the service of a running batch, a node lost mid-batch is
replaced by Swarm and absorbed by the worker, and DELETE leaves no service and no task. The node
loss runs last and brings the node back (its dockerd) for the modules after this one.
"""

import functools
import json
import re
import shlex
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager

import pytest
import testinfra
from sitehosts import (
    AGENT_HOST,
    INVENTORY,
    NAMESPACE,
    RAG,
    RAG_VERSION,
    REGISTRY,
    group,
    registry_digest,
    secret,
)
from testhost import http

testinfra_hosts = [AGENT_HOST]

API = "http://127.0.0.1:8700"
AGENT_CONTAINER = "aidock-agent-agent-1"
PROJECT_DIR = "/opt/aidock/stacks/agent"
SERVICE_PREFIX = "aidock-ai-"
OWNER_LABEL = "ai.aidock.owner"
AI_HOSTS = group("aidock_ai_hosts")
# The node lost mid-batch: the AI host that is a worker, not the agent's (a manager) host.
LOST = next(name for name in group("aidock_swarm_workers") if name in AI_HOSTS)
REPLICAS = 3
DOCUMENTS = 300
BATCH_INPUT = "swarm-batch"  # under the worker's /input
LONG_DOCUMENTS = 2400
LONG_INPUT = "swarm-long"
RUN_AS = "10001:10001"
# Seconds a replica's request may take before the worker gives up on that replica.
CALL_TIMEOUT = 20


def auth() -> dict:
    return {"Authorization": f"Bearer {secret('agent.token')}"}


@functools.cache
def node(name: str):
    """A testinfra host of one swarm node, over SSH as the converge reaches it."""
    return testinfra.get_host(f"ansible://{name}?ansible_inventory={INVENTORY}")


def services(host) -> list[str]:
    """Names of the AI services in the swarm (the agent's prefix)."""
    found = host.check_output(
        f"docker service ls --filter name={SERVICE_PREFIX} --format '{{{{.Name}}}}'"
    )
    return found.split()


def tasks(host, service: str) -> list[dict]:
    """`docker inspect` of every task Swarm keeps for a service, with its node's hostname."""
    ids = host.check_output(f"docker service ps -q --no-trunc {shlex.quote(service)}").split()
    if not ids:
        return []
    listing = host.check_output("docker node ls --format '{{.ID}} {{.Hostname}}'")
    names = dict(line.split(" ", 1) for line in listing.splitlines())
    found = json.loads(host.check_output(f"docker inspect {' '.join(ids)}"))
    for task in found:
        task["Hostname"] = names.get(task["NodeID"], "")
    return found


def running(host, service: str) -> list[dict]:
    return [
        t
        for t in tasks(host, service)
        if t["DesiredState"] == "running" and t["Status"]["State"] == "running"
    ]


def instances(host) -> list[dict]:
    status, body = http(host, "GET", f"{API}/v1/instances", headers=auth())
    assert status == 200, body
    return body["instances"]


def wait_for(what: str, check, timeout: float, step: float = 2.0):
    """``check()``'s first truthy value within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"not within {timeout:g}s: {what}"
        time.sleep(step)


def no_service_left(host, nodes: list[str] = AI_HOSTS) -> None:
    """No AI service in the swarm and, on ``nodes``, no task container and no mounted volume."""
    wait_for("the AI services gone", lambda: not services(host), 120)
    for name in nodes:
        # DELETE returned once Swarm listed no task; the node may take a moment more to
        # remove the last container.
        wait_for(f"no task container on {name}", lambda name=name: not task_containers(name), 30, 1)
        # Their memory is back: no tmpfs volume of a task is mounted any more. (The empty,
        # unmounted volume entries may stay: README, Scale out.)
        assert not tmpfs_volumes_mounted(name), name


def task_containers(name: str) -> list[str]:
    names = node(name).check_output("docker ps -a --format '{{.Names}}'").split()
    return [n for n in names if n.startswith(SERVICE_PREFIX)]


def tmpfs_volumes_mounted(name: str) -> list[str]:
    mounts = node(name).check_output("cat /proc/mounts").splitlines()
    # Anonymous volumes are named by 64 hex digits (the agent's stack has a named tmpfs volume).
    return [m for m in mounts if re.match(r"tmpfs /var/lib/docker/volumes/[0-9a-f]{64}/", m)]


def letters(host, directory: str, count: int) -> set[str]:
    """``count`` letters in ``directory`` of the worker's input on the agent's host."""
    script = (
        "import pathlib, shutil\n"
        f"d=pathlib.Path({PROJECT_DIR + '/input/' + directory!r})\n"
        "shutil.rmtree(d, ignore_errors=True); d.mkdir()\n"
        f"for i in range({count}):\n"
        " (d/f'letter-{i:04d}.txt').write_text(f'Letter {i}\\n\\n1. Invoice {i} of customer "
        "C-{i:04d} is due within 30 days. Invoices are retained for ten years.\\n\\n2. Please "
        "quote reference R-{i:05d} in every payment and every question about this letter.\\n')\n"
    )
    host.check_output(f"python3 -c {shlex.quote(script)}")
    return {f"letter-{i:04d}.txt" for i in range(count)}


@pytest.fixture(scope="module")
def documents(host) -> set[str]:
    """The issue's batch: 300 letters."""
    return letters(host, BATCH_INPUT, DOCUMENTS)


@pytest.fixture(scope="module")
def long_documents(host) -> set[str]:
    """A batch that outlasts an agent restart and Swarm's rescheduling after a node loss (the
    300 letters take 5 s at 60 documents/s)."""
    return letters(host, LONG_INPUT, LONG_DOCUMENTS)


def run_batch(
    host, output: str, directory: str = BATCH_INPUT, concurrency: int = 6
) -> tuple[int, dict, list[dict]]:
    """The worker over a directory of letters with 3 replicas: exit code, summary, lines."""
    out = f"{PROJECT_DIR}/output/{output}.jsonl"
    host.run(f"rm -f {out} {out}.summary.json")
    result = host.run(
        f"cd {PROJECT_DIR} && docker compose run --rm -T worker run --ai {RAG} "
        f"--version {RAG_VERSION} --replicas {REPLICAS} --concurrency {concurrency} "
        f"--timeout {CALL_TIMEOUT} --input /input/{directory} --output /output/{output}.jsonl"
    )
    summary = json.loads(host.check_output(f"cat {out}.summary.json"))
    lines = [json.loads(line) for line in host.check_output(f"cat {out}").splitlines() if line]
    print(result.stderr[-3000:])
    return result.rc, summary, lines


def exactly_once(documents: set[str], lines: list[dict]) -> None:
    """Every document once in the output, ok: 0 lost, 0 duplicated."""
    written = [line["document"] for line in lines]
    assert len(written) == len(set(written)), "duplicated: " + str(
        sorted({d for d in written if written.count(d) > 1})
    )
    assert set(written) == documents, f"lost: {sorted(documents - set(written))[:10]}"
    failed = [line for line in lines if not line["ok"]]
    assert not failed, failed[:3]


def lines_written(host, output: str) -> int:
    found = host.run(f"wc -l < {PROJECT_DIR}/output/{output}.jsonl")
    return int(found.stdout.strip() or 0) if found.rc == 0 else 0


@contextmanager
def background_batch(host, output: str) -> Iterator[Future]:
    """The long batch in a thread, yielded once it has written 100 lines; on leaving, waits
    until the worker is done (a failed test leaves no worker running into the next one)."""
    host.run(f"rm -f {PROJECT_DIR}/output/{output}.jsonl")  # before the check below reads it
    pool = ThreadPoolExecutor(1)
    try:
        future = pool.submit(run_batch, host, output, LONG_INPUT, 3)
        wait_for(
            "the batch under way",
            lambda: future.done() or lines_written(host, output) >= 100,
            240,
            0.5,
        )
        assert not future.done(), f"the batch ended early: {future.result()}"
        yield future
    finally:
        pool.shutdown(wait=True)


@pytest.fixture(scope="module")
def service(host):
    """An instance of rag with three replicas, deleted by the test that checks DELETE."""
    status, body = http(
        host,
        "POST",
        f"{API}/v1/instances",
        {"ai": RAG, "version": RAG_VERSION, "replicas": REPLICAS},
        auth(),
    )
    assert status == 201, body
    yield body
    http(host, "DELETE", f"{API}/v1/instances/{body['id']}", headers=auth())


def test_replicas_land_on_at_least_two_ai_hosts(host, service):
    assert service["replicas"] == REPLICAS
    assert len(service["endpoints"]) == REPLICAS, service

    # The agent answered once every replica answered its probe; Swarm reports a task running
    # once the image's health check passed too (every half second while it starts).
    def all_running():
        found = running(host, service["container"])
        return found if len(found) == REPLICAS else None

    found = wait_for("Swarm reports every replica running", all_running, 30, 0.5)
    nodes = {t["Hostname"] for t in found}
    assert len(nodes) >= 2, nodes
    assert nodes <= set(AI_HOSTS), nodes
    addresses = {t["NetworksAttachments"][-1]["Addresses"][0].split("/")[0] for t in found}
    assert {url.split("//")[1].split(":")[0] for url in service["endpoints"]} == addresses


def test_every_task_container_is_hardened_on_its_node(host, service):
    digest = registry_digest(host, f"{NAMESPACE}/{RAG}", RAG_VERSION)
    for task in running(host, service["container"]):
        container = json.loads(
            node(task["Hostname"]).check_output(
                f"docker inspect {task['Status']['ContainerStatus']['ContainerID']}"
            )
        )[0]
        config, hostconfig = container["Config"], container["HostConfig"]
        where = (task["Hostname"], container["Name"])
        assert (
            config["Image"] == f"{REGISTRY}/{NAMESPACE}/{RAG}:{RAG_VERSION}@{digest}"
            or config["Image"] == f"{REGISTRY}/{NAMESPACE}/{RAG}@{digest}"
        ), (where, config["Image"])
        assert config["User"] == RUN_AS, where
        assert config["Labels"][OWNER_LABEL], where
        assert hostconfig["ReadonlyRootfs"] is True, where
        assert hostconfig["CapDrop"] == ["ALL"], where
        assert not hostconfig["CapAdd"], where
        assert "no-new-privileges" in " ".join(hostconfig["SecurityOpt"] or []), where
        assert hostconfig["Privileged"] is False, where
        assert hostconfig["Memory"] == 1024**3, where
        assert hostconfig["NanoCpus"] == 10**9, where
        assert 0 < hostconfig["PidsLimit"] <= 256, where
        # Memory only: each mount an anonymous tmpfs volume of this task (owner from the image's
        # manifest), none of the host.
        mounts = container["Mounts"]
        assert {m["Destination"] for m in mounts} == {"/data", "/tmp"}, (where, mounts)
        for mount in mounts:
            assert (mount["Type"], mount["Driver"]) == ("volume", "local"), (where, mount)
            volume = json.loads(
                node(task["Hostname"]).check_output(f"docker volume inspect {mount['Name']}")
            )[0]
            options = volume["Options"]
            assert (options["type"], options["device"]) == ("tmpfs", "tmpfs"), (where, volume)
            assert {"nosuid", "nodev", "noexec"} <= set(options["o"].split(",")), (where, volume)
        data = next(m for m in mounts if m["Destination"] == "/data")
        assert "uid=10001" in data_options(node(task["Hostname"]), data["Name"]), where


def data_options(node_host, volume: str) -> str:
    return json.loads(node_host.check_output(f"docker volume inspect {volume}"))[0]["Options"]["o"]


def test_patch_scales_the_service(host, service):
    path = f"{API}/v1/instances/{service['id']}"
    status, scaled = http(host, "PATCH", path, {"replicas": 2}, auth())
    assert status == 200, scaled
    assert (scaled["replicas"], len(scaled["endpoints"])) == (2, 2), scaled
    wait_for("two tasks running", lambda: len(running(host, service["container"])) == 2, 60)
    status, body = http(host, "GET", path, headers=auth())
    assert (status, len(body["endpoints"])) == (200, 2), body
    # The replicas handed out are the two that stay, not the one Swarm stopped.
    assert sorted(scaled["endpoints"]) == sorted(body["endpoints"]), (scaled, body)


def test_delete_leaves_no_service_and_no_task(host, service):
    status, _ = http(host, "DELETE", f"{API}/v1/instances/{service['id']}", headers=auth())
    assert status == 204
    # DELETE returns once Swarm lists no task of the service: nothing to wait for here.
    assert service["container"] not in services(host)
    assert host.run(f"docker service ps {service['container']}").rc != 0
    no_service_left(host)
    assert instances(host) == []


def test_batch_of_300_spreads_over_every_replica_exactly_once(host, documents):
    rc, summary, lines = run_batch(host, "swarm-batch")
    assert rc == 0, summary
    assert (summary["ok"], summary["failed"]) == (DOCUMENTS, 0), summary
    exactly_once(documents, lines)
    calls = summary["replica_calls"]
    assert len(calls) == REPLICAS and all(n > 0 for n in calls.values()), calls
    assert {line["replica"] for line in lines} == set(calls)
    no_service_left(host)


def test_agent_restart_mid_batch_adopts_the_service(host, long_documents):
    with background_batch(host, "swarm-restart") as batch:
        before = instances(host)
        assert len(before) == 1, before
        host.check_output(f"docker restart {AGENT_CONTAINER}")
        wait_for(
            "the agent healthy again",
            lambda: (
                host.check_output(
                    f"docker inspect -f '{{{{.State.Health.Status}}}}' {AGENT_CONTAINER}"
                )
                == "healthy"
            ),
            120,
            1,
        )
        after = instances(host)
        assert not batch.done(), "the batch ended before the agent was back: make it longer"
        # Adopted while the batch runs: the same instance, replicas and service, no other.
        assert [(i["id"], i["replicas"], i["container"]) for i in after] == [
            (i["id"], i["replicas"], i["container"]) for i in before
        ]
        assert services(host) == [before[0]["container"]], "a service not adopted (orphaned)"
        rc, summary, lines = batch.result(timeout=600)
    assert rc == 0, summary
    exactly_once(long_documents, lines)
    # The worker's DELETE went to the restarted agent: it had adopted the instance.
    no_service_left(host)


@pytest.fixture
def node_back(host):
    """Starts the lost node's dockerd again afterwards, as the docker_engine role does."""
    yield
    lost = node(LOST)
    if lost.run("docker version --format '{{.Server.Version}}'").rc != 0:
        lost.check_output("sh -c 'setsid dockerd >>/var/log/dockerd.log 2>&1 </dev/null &'")
    wait_for(
        f"{LOST} ready in the swarm again",
        lambda: (
            host.check_output(f"docker node inspect -f '{{{{.Status.State}}}}' {LOST}") == "ready"
        ),
        180,
    )


def kill_node(name: str) -> None:
    """A node lost: its dockerd, containerd, their shims and port proxies, and every AI process
    (uid 10001) killed at once. Names as the kernel keeps them (15 characters), matched only
    inside that test host's own PID namespace. kill's status is not the test: a process listed
    may end before the kill (a replica's healthcheck, uid 10001, lives a fraction of a second),
    and kill then says "No such process" for it after killing the others. What counts is that
    no engine process is left."""
    names = "dockerd|containerd|containerd-shim|docker-proxy"
    host = node(name)
    host.run(f'sh -c \'kill -KILL $(pgrep -d " " -x "{names}") $(pgrep -d " " -u 10001)\'')
    wait_for(
        f"no engine process left on {name}",
        lambda: host.run(f'pgrep -x "{names}"').rc == 1,
        10,
        0.2,
    )


def test_node_lost_mid_batch_is_rescheduled_and_absorbed(host, long_documents, node_back):
    with background_batch(host, "swarm-node-loss") as batch:
        (instance,) = instances(host)
        before = running(host, instance["container"])
        assert LOST in {t["Hostname"] for t in before}, "no replica on the node to lose"
        port = instance["endpoint"].rsplit(":", 1)[1]
        lost_urls = {
            f"http://{t['NetworksAttachments'][-1]['Addresses'][0].split('/')[0]}:{port}"
            for t in before
            if t["Hostname"] == LOST
        }
        kill_node(LOST)

        def rescheduled():
            path = f"{API}/v1/instances/{instance['id']}"
            status, body = http(host, "GET", path, headers=auth())
            assert status == 200, body
            urls = set(body["endpoints"])
            return urls if len(urls) == REPLICAS and not urls & lost_urls else None

        urls = wait_for("the agent's instance reports the rescheduled tasks", rescheduled, 180)
        assert not batch.done(), "the batch ended before Swarm rescheduled: make it longer"
        now = running(host, instance["container"])
        assert {t["Hostname"] for t in now} <= set(AI_HOSTS) - {LOST}, now
        rc, summary, lines = batch.result(timeout=600)
    assert rc == 0, summary
    exactly_once(long_documents, lines)
    assert urls - set(instance["endpoints"]), "no new task reported"
    no_service_left(host, [name for name in AI_HOSTS if name != LOST])
