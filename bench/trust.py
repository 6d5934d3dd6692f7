"""Least privilege and provenance (issue 12): what the policy proxy and the signature check cost,
and docker-bench-security's container sections on the deployed site.

proxy: the agent's cold path (request -> first extraction answer) with the agent's Docker client
on dockerd's socket directly, and through the policy proxy (``aidock dockerproxy serve`` started
here with the policy the site runs, for this run's owner id and network), alternating rounds.
Both agents run in this process (``bench.agent.BenchAgent``), pull from the site registry and
start the deployed extraction image, so only the Docker endpoint differs.

signature: the agent's check of the extraction image's cosign signature with the site's key,
against the site registry (manifest of ``sha256-<hex>.sig``, payload blob, ECDSA verification):
what each start adds, measured directly (a cold path's spread is larger than the check).

docker-bench: docker/docker-bench-security's sections 4 (images) and 5 (container runtime) on
the site's containers, with one AI the deployed agent started running beside them. The tool
is not shipped (a public repository, fetched and run as it is): set ``DOCKER_BENCH_SECURITY``
to a checkout. Every WARN is listed; the ones that are the machine's, not aidock's, are named
with the reason (``MACHINE_LEVEL``), everything else counts as a finding.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import requests

from aidock.agent.app import make_catalog, make_verifier
from bench.agent import (
    AI,
    BATCH_SEED,
    VERSION,
    BenchAgent,
    _agent_cold,
    bench_config,
    sample_texts,
)
from bench.common import (
    ROOT,
    BenchError,
    Context,
    fmt_ms,
    fmt_ratio,
    log,
    md_table,
    ratio,
    summary,
)
from bench.report import Part, Suite

SITE_PUBLIC_KEY = Path("/etc/aidock/signing/cosign.pub")
DOCKER_SOCKET = "/var/run/docker.sock"
AGENT_URL = "http://127.0.0.1:8700"
TOKEN_FILE = ROOT / ".secrets" / "agent.token"
PROXY_START_TIMEOUT = 30.0
SIGNATURE_CHECKS = 50
# The site's containers (compose stacks) and the AIs its agent starts (aidock-ai-*); the
# molecule test hosts and bench leftovers are not the site's.
SITE_CONTAINERS = (
    "aidock-registry-",
    "aidock-rag-",
    "aidock-extraction-",
    "aidock-categorization-",
    "aidock-agent-",
    "aidock-ai-",
)
# WARNs that are this machine's or Docker's, not something aidock's containers could change.
MACHINE_LEVEL = {
    "4.5": "DOCKER_CONTENT_TRUST is Docker Content Trust (Notary v1), which needs a Notary "
    "server; aidock verifies cosign signatures of the site key in the agent instead",
    "5.1": "swarm mode, on the sites that scale out on Docker Swarm",
    "5.2": "AppArmor is absent from this kernel: no profile can be applied",
    "5.9": "manual: the listed ports are the services' own, published on 127.0.0.1 only",
}


def _env_for_proxy(listen: Path, agent: BenchAgent) -> dict[str, str]:
    config = agent.config
    return {
        **os.environ,
        "AIDOCK_DOCKERPROXY_UPSTREAM": DOCKER_SOCKET,
        "AIDOCK_DOCKERPROXY_LISTEN": str(listen),
        "AIDOCK_DOCKERPROXY_REGISTRY": config.registry,
        "AIDOCK_DOCKERPROXY_NAMESPACE": config.namespace,
        "AIDOCK_DOCKERPROXY_OWNER": config.owner_id,
        "AIDOCK_DOCKERPROXY_NETWORKS": json.dumps([config.network]),
    }


@contextlib.contextmanager
def policy_proxy(listen: Path, agent: BenchAgent) -> Iterator[str]:
    """``aidock dockerproxy serve`` on ``listen`` for ``agent``'s owner and network."""
    cli = Path(sys.executable).parent / "aidock"
    log_file = listen.with_suffix(".log")
    with log_file.open("w", encoding="utf-8") as out:
        proc = subprocess.Popen(
            [str(cli), "dockerproxy", "serve", "--log-level", "info"],
            env=_env_for_proxy(listen, agent),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + PROXY_START_TIMEOUT
        while not listen.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError(f"the policy proxy did not start: {log_file.read_text()[-800:]}")
            time.sleep(0.1)
        yield f"unix://{listen}"
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def _forwarded(log_file: Path) -> int:
    """Requests the proxy forwarded so far (its INFO line per request)."""
    return sum(1 for line in log_file.read_text().splitlines() if " -> " in line)


def _call_seconds(client: docker.DockerClient, container: str, calls: int) -> list[float]:
    times = []
    for _ in range(calls):
        t0 = time.perf_counter()
        client.api.inspect_container(container)
        times.append(time.perf_counter() - t0)
    return times


def run_proxy(ctx: Context) -> dict[str, Any]:
    """Cold path through the agent: dockerd's socket directly versus the policy proxy; the
    proxy's cost per Docker call and the calls of one start, for the estimate."""
    text = sample_texts(1, seed=BATCH_SEED)[0]
    samples: dict[str, list[dict[str, Any]]] = {"direct": [], "proxy": []}
    with tempfile.TemporaryDirectory(prefix="aidock-bench-trust-") as tmp:
        workdir = Path(tmp)
        (workdir / "direct").mkdir()
        (workdir / "proxy").mkdir()
        socket = workdir / "proxy" / "docker.sock"
        suffix = secrets.token_hex(4)
        with BenchAgent(workdir / "direct", run=f"{suffix}d") as direct:
            # The proxied agent is made first (its owner and network name the proxy's scope),
            # served once the proxy listens.
            proxied = BenchAgent(workdir / "proxy", run=f"{suffix}p", docker_url=f"unix://{socket}")
            with policy_proxy(socket, proxied), proxied:
                agents = {"direct": direct, "proxy": proxied}
                log("proxy cold path: warm-up (unrecorded)")
                for agent in agents.values():
                    _agent_cold(agent, text)
                for round_ in range(ctx.repeat):
                    order = ["direct", "proxy"] if round_ % 2 == 0 else ["proxy", "direct"]
                    for key in order:
                        sample = _agent_cold(agents[key], text)
                        log(f"proxy cold path {round_ + 1}/{ctx.repeat} {key}: {sample}")
                        samples[key].append(sample)
                # One start and stop, counted in the proxy's log; then one running container
                # inspected through each endpoint, alternating blocks.
                before = _forwarded(socket.with_suffix(".log"))
                body = proxied.start()
                calls_per_start = _forwarded(socket.with_suffix(".log")) - before
                per_call: dict[str, list[float]] = {"direct": [], "proxy": []}
                clients = {
                    "direct": docker.from_env(),
                    "proxy": docker.DockerClient(f"unix://{socket}"),
                }
                try:
                    for _ in range(10):
                        for key, client in clients.items():
                            per_call[key] += _call_seconds(client, body["container"], 20)
                finally:
                    for client in clients.values():
                        client.close()
                    proxied.stop(body["id"])
    first = {k: summary([s["first_response_s"] for s in v]) for k, v in samples.items()}
    call = {k: summary(v) for k, v in per_call.items()}
    added = calls_per_start * (call["proxy"]["median"] - call["direct"]["median"])
    return {
        "ai": AI,
        "direct": {"first_response_s": first["direct"], "inspect_s": call["direct"]},
        "proxy": {"first_response_s": first["proxy"], "inspect_s": call["proxy"]},
        "ratio_median": ratio(first["proxy"]["median"], first["direct"]["median"]),
        "calls_per_start": calls_per_start,
        "added_per_start_s": added,
        "ratio_estimate": ratio(first["direct"]["median"] + added, first["direct"]["median"]),
        "goal_ratio": 1.05,
    }


def run_signature(_ctx: Context) -> dict[str, Any]:
    """The agent's signature check of the extraction image, against the site registry."""
    if not SITE_PUBLIC_KEY.is_file():
        raise BenchError(f"{SITE_PUBLIC_KEY} is missing: the site does not sign (signing role)")
    with tempfile.TemporaryDirectory(prefix="aidock-bench-sig-") as tmp:
        config = bench_config(
            Path(tmp), secrets.token_hex(8), settings={"signature_public_key": SITE_PUBLIC_KEY}
        )
        catalog = make_catalog(config)
        verifier = make_verifier(config, catalog)
        if verifier is None:
            raise BenchError("the agent's settings did not make a signature check")
        digest = catalog.resolve(AI, VERSION).digest
        verifier.check(AI, digest)  # warm-up: TLS session
        times = []
        for _ in range(SIGNATURE_CHECKS):
            t0 = time.perf_counter()
            verifier.check(AI, digest)
            times.append(time.perf_counter() - t0)
    return {"ai": AI, "digest": digest, "check_s": summary(times), "goal_s": 0.3}


def _start_site_ai(token: str) -> str:
    resp = requests.post(
        f"{AGENT_URL}/v1/instances",
        json={"ai": AI, "version": VERSION},
        headers={"Authorization": f"Bearer {token}"},
        timeout=300,
    )
    if resp.status_code != 201:
        raise BenchError(f"the site's agent did not start {AI}: {resp.status_code} {resp.text}")
    return str(resp.json()["id"])


def _site_items(items: list[str]) -> list[str]:
    return [i for i in items if any(p in i for p in SITE_CONTAINERS) or i.startswith("[aidock")]


def run_docker_bench(_ctx: Context) -> dict[str, Any]:
    """docker-bench-security sections 4 and 5 on the site's containers."""
    tool = os.environ.get("DOCKER_BENCH_SECURITY", "")
    script = Path(tool) / "docker-bench-security.sh"
    if not script.is_file():
        raise BenchError(
            "set DOCKER_BENCH_SECURITY to a checkout of docker/docker-bench-security "
            "(not shipped with aidock: fetch it, run it as it is)"
        )
    if not TOKEN_FILE.is_file():
        raise BenchError(f"{TOKEN_FILE} is missing: run `make deploy` first")
    token = TOKEN_FILE.read_text().strip()
    instance = _start_site_ai(token)
    try:
        with tempfile.TemporaryDirectory(prefix="aidock-bench-dbs-") as tmp:
            log_path = Path(tmp) / "docker-bench.log"
            done = subprocess.run(
                [
                    "sh",
                    str(script),
                    "-b",
                    "-c",
                    "container_images,container_runtime",
                    "-i",
                    ",".join(p.rstrip("-") for p in SITE_CONTAINERS),
                    "-l",
                    str(log_path),
                ],
                cwd=tool,
                capture_output=True,
                text=True,
                timeout=600,
                check=False,
            )
            if done.returncode != 0:
                raise BenchError(f"docker-bench-security failed: {done.stderr[-800:]}")
            report = json.loads(log_path.with_name("docker-bench.log.json").read_text())
            version = str(report.get("dockerbenchsecurity", ""))
    finally:
        requests.delete(
            f"{AGENT_URL}/v1/instances/{instance}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=120,
        )
    checks: list[dict[str, Any]] = []
    for section in report["tests"]:
        for result in section["results"]:
            items = _site_items([str(i) for i in result.get("items", [])])
            warn = result["result"] == "WARN" and (items or not result.get("items"))
            checks.append(
                {
                    "id": result["id"],
                    "desc": result["desc"],
                    "result": "WARN" if warn else result["result"],
                    "items": items,
                    "accepted": MACHINE_LEVEL.get(result["id"]) if warn else None,
                }
            )
    findings = [c for c in checks if c["result"] == "WARN" and not c["accepted"]]
    return {
        "tool_version": version,
        "sections": ["4 container images", "5 container runtime"],
        "checks": checks,
        "findings": [c["id"] for c in findings],
    }


def render_proxy(result: dict[str, Any]) -> str:
    rows = [
        [
            label,
            fmt_ms(result[key]["first_response_s"]["median"]),
            fmt_ms(result[key]["first_response_s"]["p95"]),
            str(result[key]["first_response_s"]["n"]),
        ]
        for key, label in (("direct", "dockerd's socket"), ("proxy", "through the policy proxy"))
    ]
    calls = [
        [
            label,
            fmt_ms(result[key]["inspect_s"]["median"]),
            fmt_ms(result[key]["inspect_s"]["p95"]),
            str(result[key]["inspect_s"]["n"]),
        ]
        for key, label in (("direct", "dockerd's socket"), ("proxy", "through the policy proxy"))
    ]
    return (
        md_table(["agent's Docker endpoint", "cold path median", "p95", "n"], rows)
        + f"\n\nRatio of the cold paths' medians: {fmt_ratio(result['ratio_median'])}.\n\n"
        + md_table(["one container inspect", "median", "p95", "n"], calls)
        + f"\n\nOne start through the proxy made {result['calls_per_start']} Docker calls: "
        + f"{fmt_ms(result['added_per_start_s'])} added per start, so the cold path is "
        + f"**{fmt_ratio(result['ratio_estimate'])}** of the direct one "
        + f"(goal <= {result['goal_ratio']}x).\n"
    )


def render_signature(result: dict[str, Any]) -> str:
    s = result["check_s"]
    rows = [[fmt_ms(s["median"]), fmt_ms(s["p95"]), fmt_ms(s["max"]), str(s["n"])]]
    return md_table(["median", "p95", "max", "checks"], rows) + (
        f"\n\n`{result['ai']}` at `{result['digest']}`; goal <= {result['goal_s']} s per start.\n"
    )


def render_docker_bench(result: dict[str, Any]) -> str:
    rows = [
        [
            c["id"],
            c["result"],
            c["desc"],
            ", ".join(c["items"]) or "",
            c["accepted"] or ("**finding**" if c["result"] == "WARN" else ""),
        ]
        for c in result["checks"]
    ]
    findings = ", ".join(result["findings"]) or "none"
    return (
        f"docker-bench-security {result['tool_version']}, sections 4 and 5. "
        f"Findings (WARN not named as the machine's): **{findings}**.\n\n"
        + md_table(["check", "result", "what", "site containers/images", "why accepted"], rows)
        + "\n"
    )


def proxy_headline(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            "agent cold path through the policy proxy (goal <= 1.05x)",
            f"+{fmt_ms(result['added_per_start_s'])} ({result['calls_per_start']} calls)",
            f"socket {fmt_ms(result['direct']['first_response_s']['median'])}",
            fmt_ratio(result["ratio_estimate"]),
        ]
    ]


def signature_headline(result: dict[str, Any]) -> list[list[str]]:
    median = result["check_s"]["median"]
    return [["signature check per start (goal <= 0.3 s)", fmt_ms(median), "", ""]]


def docker_bench_headline(result: dict[str, Any]) -> list[list[str]]:
    return [["docker-bench-security 4+5 findings", ", ".join(result["findings"]) or "0", "", ""]]


TRUST = Suite(
    name="trust",
    title="Least privilege and provenance",
    description=(
        "What the Docker API policy proxy and the cosign signature check cost the agent, and "
        "docker-bench-security's container sections on the deployed site."
    ),
    parts=(
        Part(
            name="proxy",
            title="The agent's cold path with and without the policy proxy",
            run=run_proxy,
            render=render_proxy,
            headline=proxy_headline,
            notes=(
                "Both agents run in the bench process with their own owner id and network; the "
                "proxy is `aidock dockerproxy serve` with the packaged policy, scoped to the "
                "proxied agent's owner and network, on a unix socket. Rounds alternate.",
                "A cold path is a container start and the AI's model load (seconds): their "
                "spread on a 2-core host is larger than the proxy's cost, so the ratio of the "
                "measured cold paths moves both ways from run to run. The headline ratio is "
                "therefore the direct cold path plus what the proxy adds: the Docker calls of "
                "one start (counted in the proxy's log) times the proxy's added time per call "
                "(a container inspect, 200 per endpoint in alternating blocks).",
            ),
        ),
        Part(
            name="signature",
            title="The signature check of a start",
            run=run_signature,
            render=render_signature,
            headline=signature_headline,
        ),
        Part(
            name="docker-bench",
            title="docker-bench-security, sections 4 and 5",
            run=run_docker_bench,
            render=render_docker_bench,
            headline=docker_bench_headline,
            notes=(
                "Machine-level WARNs accepted, with the reason in the table: "
                + "; ".join(f"{k}: {v}" for k, v in MACHINE_LEVEL.items()),
                "5.32 passes because no container mounts a file named docker.sock: the policy "
                "proxy mounts the directory that holds dockerd's socket. The proxy does hold "
                "the socket, by design the only container that does (no network, the policy "
                "file decides what passes); the agent holds only the proxy's socket.",
                "Containers checked: the site's compose stacks and one AI the deployed agent "
                "started (aidock-ai-*); test hosts and bench containers are not the site's.",
            ),
        ),
    ),
)
