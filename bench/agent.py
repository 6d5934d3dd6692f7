"""Agent and worker: the cold path through the agent against a plain ``docker run`` floor, the
worker's per-document overhead against direct calls, and a 1,000-document batch.

The agent runs in this process (``aidock.agent.app`` served on 127.0.0.1, endpoint mode
loopback: AIs are published on 127.0.0.1 so this process can call them), with its own owner id
and network, pulling from the site registry with the site's credentials. The AI measured is
the deployed extraction Bento image, already local (the agent still asks the registry for the
digest, as it does in production).
"""

from __future__ import annotations

import contextlib
import json
import secrets
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import requests
from werkzeug.serving import make_server

from aidock.agent.app import create_app, get_manager
from aidock.agent.config import AgentConfig
from aidock.agent.docker_ops import DockerOps
from aidock.ais.corpus import generate
from aidock.worker.batch import RunOptions, run_batch
from bench.coldstart import HARDENED, Subject, running
from bench.common import (
    ROOT,
    BenchError,
    Context,
    fmt_ms,
    fmt_ratio,
    fmt_seconds,
    log,
    md_table,
    ratio,
    summary,
)
from bench.report import Part, Suite

AI = "extraction"
VERSION = "0.1.0"
REGISTRY = "localhost:5000"
IMAGE = f"{REGISTRY}/aidock/{AI}:{VERSION}"
AI_PORT = "3000/tcp"
REGISTRY_USER = "aidock"
PASSWORD_FILE = ROOT / ".secrets" / f"registry-{REGISTRY_USER}.password"
CA_FILE = Path("/etc/aidock/pki/ca.crt")
BATCH_DOCS = 1000
BATCH_SEED = 31
BATCH_CONCURRENCY = 4
WARM_DOCS = 200
LOCALHOST = "127.0.0.1"


def sample_texts(count: int, seed: int) -> list[str]:
    """Generated documents (the corpus the AIs are trained on, another seed)."""
    return [doc.text for doc in generate(count, seed=seed)]


def write_documents(texts: list[str], directory: Path) -> list[str]:
    """One ``doc-NNNNN.txt`` per text; returns the names."""
    names = []
    for i, text in enumerate(texts):
        name = f"doc-{i:05d}.txt"
        (directory / name).write_text(text, encoding="utf-8")
        names.append(name)
    return names


def audit(output: Path, names: list[str]) -> dict[str, Any]:
    """Lost (input without a result line) and duplicated (more than one line) documents."""
    lines = [json.loads(line) for line in output.read_text(encoding="utf-8").splitlines() if line]
    seen = Counter(line["document"] for line in lines)
    return {
        "documents": len(names),
        "result_lines": len(lines),
        "ok": sum(1 for line in lines if line.get("ok")),
        "lost": sum(1 for name in names if name not in seen),
        "duplicated": sum(count - 1 for count in seen.values() if count > 1),
        "unexpected": sorted(set(seen) - set(names)),
        "elapsed_ms": [float(line["elapsed_ms"]) for line in lines if "elapsed_ms" in line],
    }


def bench_config(
    workdir: Path, token: str, *, run: str | None = None, settings: dict[str, Any] | None = None
) -> AgentConfig:
    """Settings of an agent of this run: its own owner id and network, the site registry."""
    if not PASSWORD_FILE.is_file():
        raise BenchError(f"{PASSWORD_FILE} is missing: run `make deploy` first")
    run = run or secrets.token_hex(4)
    token_file = workdir / "agent.token"
    token_file.write_text(token + "\n", encoding="utf-8")
    return AgentConfig.model_validate(
        {
            "owner_id": f"aidock-bench-agent-{run}",
            "registry": REGISTRY,
            "network": f"aidock-bench-agent-{run}",
            "endpoint_mode": "loopback",
            "token_file": token_file,
            "registry_username": REGISTRY_USER,
            "registry_password_file": PASSWORD_FILE,
            "registry_ca_file": CA_FILE,
            "max_instances": 2,
            "idle_ttl": 0,
            **(settings or {}),
        }
    )


class BenchAgent:
    """The agent app served on 127.0.0.1 in a thread, with a fresh owner id and network."""

    def __init__(
        self,
        workdir: Path,
        *,
        docker_url: str | None = None,
        settings: dict[str, Any] | None = None,
        run: str | None = None,
    ) -> None:
        """``docker_url``: the Docker endpoint (default: the environment's, as the agent's);
        ``settings``: more agent settings; ``run``: the suffix of owner id and network."""
        self.token = secrets.token_hex(24)
        self.config = bench_config(workdir, self.token, run=run, settings=settings)
        ops = None
        if docker_url is not None:
            url = docker_url
            ops = DockerOps(self.config, connect=lambda: docker.DockerClient(url, timeout=60))
        self.app = create_app(self.config, ops=ops)
        self.server = make_server(LOCALHOST, 0, self.app, threaded=True)
        self.url = f"http://{LOCALHOST}:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {self.token}"

    def __enter__(self) -> BenchAgent:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        manager = get_manager(self.app)
        manager.terminate_all()
        self.server.shutdown()
        self.thread.join(5)
        manager.close()
        self.session.close()
        # The bench's own cleanup, on dockerd directly: an agent behind the policy proxy may
        # not remove networks.
        with contextlib.closing(docker.from_env()) as client:
            for network in client.networks.list(names=[self.config.network]):
                if network.name == self.config.network:
                    network.remove()

    def start(self, ai: str = AI, version: str = VERSION) -> dict[str, Any]:
        resp = self.session.post(
            f"{self.url}/v1/instances", json={"ai": ai, "version": version}, timeout=300
        )
        if resp.status_code != 201:
            raise BenchError(f"agent refused to start {ai}: {resp.status_code} {resp.text}")
        return resp.json()

    def stop(self, instance_id: str) -> None:
        resp = self.session.delete(f"{self.url}/v1/instances/{instance_id}", timeout=120)
        if resp.status_code != 204:
            raise BenchError(f"agent could not terminate {instance_id}: {resp.status_code}")


def extract(session: requests.Session, endpoint: str, text: str) -> float:
    """One POST /extract; its client-side seconds (raises unless 200)."""
    t0 = time.perf_counter()
    resp = session.post(f"{endpoint}/extract", json={"text": text}, timeout=60)
    elapsed = time.perf_counter() - t0
    if resp.status_code != 200:
        raise BenchError(f"{endpoint}/extract answered {resp.status_code}: {resp.text[:200]}")
    return elapsed


def floor_subject() -> Subject:
    """The extraction image run the way the agent runs it, but by a plain create+start."""
    return Subject(
        "extraction-floor",
        "docker run (floor)",
        IMAGE,
        {**HARDENED, "tmpfs": {"/tmp": "size=128m,mode=1777"}, "nano_cpus": 1_000_000_000},
        port=AI_PORT,
        suite="agent",
    )


def _agent_cold(agent: BenchAgent, text: str) -> dict[str, Any]:
    with requests.Session() as session:
        t0 = time.perf_counter()
        body = agent.start()
        ready = time.perf_counter() - t0
        extract(session, body["endpoint"], text)
        first = time.perf_counter() - t0
    agent.stop(body["id"])
    return {"instance_ready_s": ready, "first_response_s": first}


def _floor_cold(ctx: Context, text: str) -> dict[str, Any]:
    with running(ctx, floor_subject()) as sample, requests.Session() as session:
        call = extract(session, f"http://{LOCALHOST}:{sample['port']}", text)
    return {"ready_s": sample["ready_s"], "first_response_s": sample["ready_s"] + call}


@contextlib.contextmanager
def bench_agent() -> Iterator[tuple[BenchAgent, Path]]:
    """A served agent and a scratch directory, both gone afterwards."""
    with tempfile.TemporaryDirectory(prefix="aidock-bench-agent-") as tmp:
        workdir = Path(tmp)
        with BenchAgent(workdir) as agent:
            yield agent, workdir


def run_coldpath(ctx: Context) -> dict[str, Any]:
    """Request -> first successful response through the agent, versus ``docker run``."""
    text = sample_texts(1, seed=BATCH_SEED)[0]
    samples: dict[str, list[dict[str, Any]]] = {"agent": [], "floor": []}
    with bench_agent() as (agent, _):
        log("agent cold path: warm-up (unrecorded)")
        _agent_cold(agent, text)
        _floor_cold(ctx, text)
        for round_ in range(ctx.repeat):
            order = ["agent", "floor"] if round_ % 2 == 0 else ["floor", "agent"]
            for key in order:
                sample = _agent_cold(agent, text) if key == "agent" else _floor_cold(ctx, text)
                log(f"agent cold path {round_ + 1}/{ctx.repeat} {key}: {sample}")
                samples[key].append(sample)
    agent_first = summary([s["first_response_s"] for s in samples["agent"]])
    floor_first = summary([s["first_response_s"] for s in samples["floor"]])
    return {
        "image": IMAGE,
        "agent": {
            "first_response_s": agent_first,
            "instance_ready_s": summary([s["instance_ready_s"] for s in samples["agent"]]),
        },
        "floor": {
            "first_response_s": floor_first,
            "ready_s": summary([s["ready_s"] for s in samples["floor"]]),
        },
        "ratio_median": ratio(agent_first["median"], floor_first["median"]),
        "goal_ratio": 1.5,
    }


def _worker_batch(
    agent: BenchAgent, workdir: Path, texts: list[str], concurrency: int, name: str
) -> dict[str, Any]:
    inbox = workdir / name
    inbox.mkdir()
    names = write_documents(texts, inbox)
    output = workdir / f"{name}.jsonl"
    options = RunOptions(
        ai=AI,
        version=VERSION,
        input=inbox,
        output=output,
        agent_url=agent.url,
        token=agent.token,
        concurrency=concurrency,
    )
    with open(workdir / f"{name}.log", "w", encoding="utf-8") as stream:
        code, result = run_batch(options, stream=stream)
    if code != 0:
        raise BenchError(f"worker batch {name} exited {code}: {result.aborted or 'failures'}")
    checked = audit(output, names)
    calls = checked.pop("elapsed_ms")
    processing = result.elapsed - result.start_seconds
    return {
        **checked,
        "concurrency": concurrency,
        "elapsed_s": result.elapsed,
        "instance_start_s": result.start_seconds,
        "docs_per_s": len(texts) / processing if processing > 0 else None,
        "call_ms": summary(calls),
        "replacements": result.replacements,
    }


def run_warm(ctx: Context) -> dict[str, Any]:
    """Per-document time: worker -> AI (through the agent's instance) versus direct calls."""
    texts = sample_texts(WARM_DOCS, seed=BATCH_SEED + 1)
    with bench_agent() as (agent, workdir):
        body = agent.start()
        try:
            with requests.Session() as session:
                for text in texts[:10]:
                    extract(session, body["endpoint"], text)
                t0 = time.perf_counter()
                direct = [extract(session, body["endpoint"], text) for text in texts]
                direct_wall = time.perf_counter() - t0
        finally:
            agent.stop(body["id"])
        worker = _worker_batch(agent, workdir, texts, 1, "warm")
    direct_ms = summary([s * 1000 for s in direct])
    worker_per_doc = (worker["elapsed_s"] - worker["instance_start_s"]) / len(texts)
    direct_per_doc = direct_wall / len(texts)
    return {
        "documents": len(texts),
        "direct": {"call_ms": direct_ms, "per_doc_s": direct_per_doc},
        "worker": {**worker, "per_doc_s": worker_per_doc},
        "overhead_per_doc_ms": (worker_per_doc - direct_per_doc) * 1000,
    }


def run_batch_part(ctx: Context) -> dict[str, Any]:
    """1,000 generated documents through worker -> agent -> AI; lost/duplicated counted."""
    texts = sample_texts(BATCH_DOCS, seed=BATCH_SEED + 2)
    with bench_agent() as (agent, workdir):
        return _worker_batch(agent, workdir, texts, BATCH_CONCURRENCY, "batch")


def _coldpath_rows(result: dict[str, Any]) -> list[list[str]]:
    agent, floor = result["agent"]["first_response_s"], result["floor"]["first_response_s"]
    return [
        [
            "cold path: request -> first extraction (median)",
            fmt_seconds(agent["median"]),
            f"docker run: {fmt_seconds(floor['median'])}",
            f"{fmt_ratio(result['ratio_median'])} (goal <= {result['goal_ratio']}x)",
        ]
    ]


def render_coldpath(result: dict[str, Any]) -> str:
    agent, floor = result["agent"], result["floor"]
    rows = [
        [
            "agent: POST /v1/instances -> 201",
            fmt_seconds(agent["instance_ready_s"]["median"]),
            fmt_seconds(agent["instance_ready_s"]["max"]),
            "",
        ],
        [
            "agent: request -> first /extract 200",
            fmt_seconds(agent["first_response_s"]["median"]),
            fmt_seconds(agent["first_response_s"]["max"]),
            fmt_ratio(result["ratio_median"]),
        ],
        [
            "floor: docker run -> /readyz 200",
            fmt_seconds(floor["ready_s"]["median"]),
            fmt_seconds(floor["ready_s"]["max"]),
            "",
        ],
        [
            "floor: docker run -> first /extract 200",
            fmt_seconds(floor["first_response_s"]["median"]),
            fmt_seconds(floor["first_response_s"]["max"]),
            "1.00x",
        ],
    ]
    count = agent["first_response_s"]["n"]
    return f"Image `{result['image']}`, {count} recorded starts each.\n\n" + md_table(
        ["path", "median", "max", "vs floor"], rows
    )


def _warm_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            "warm: worker overhead per document (concurrency 1)",
            fmt_ms(result["overhead_per_doc_ms"] / 1000),
            f"direct call: {fmt_ms(result['direct']['per_doc_s'])}",
            fmt_ratio(ratio(result["worker"]["per_doc_s"], result["direct"]["per_doc_s"])),
        ]
    ]


def render_warm(result: dict[str, Any]) -> str:
    direct, worker = result["direct"], result["worker"]
    rows = [
        [
            "direct POST /extract",
            fmt_ms(direct["call_ms"]["median"] / 1000),
            fmt_ms(direct["call_ms"]["p95"] / 1000),
            fmt_ms(direct["per_doc_s"]),
        ],
        [
            "worker (read, call, validate, append + fsync)",
            fmt_ms(worker["call_ms"]["median"] / 1000),
            fmt_ms(worker["call_ms"]["p95"] / 1000),
            fmt_ms(worker["per_doc_s"]),
        ],
    ]
    return (
        f"{result['documents']} documents, one at a time, same instance kind.\n\n"
        + md_table(["path", "call p50", "call p95", "wall per document"], rows)
        + f"\n\nOverhead per document: {result['overhead_per_doc_ms']:.2f} ms."
    )


def _batch_rows(result: dict[str, Any]) -> list[list[str]]:
    return [
        [
            f"batch: {result['documents']} documents, concurrency {result['concurrency']}",
            f"{result['docs_per_s']:.1f} docs/s",
            f"p95 call {fmt_ms(result['call_ms']['p95'] / 1000)}",
            f"lost {result['lost']}, duplicated {result['duplicated']}",
        ]
    ]


def render_batch(result: dict[str, Any]) -> str:
    calls = result["call_ms"]
    rows = [
        [
            "documents / result lines / ok",
            f"{result['documents']} / {result['result_lines']} / {result['ok']}",
        ],
        ["lost / duplicated", f"{result['lost']} / {result['duplicated']}"],
        ["instance start (agent)", fmt_seconds(result["instance_start_s"])],
        ["total wall time", fmt_seconds(result["elapsed_s"])],
        ["documents/s (after the start)", f"{result['docs_per_s']:.1f}"],
        ["call p50 / p95", f"{fmt_ms(calls['median'] / 1000)} / {fmt_ms(calls['p95'] / 1000)}"],
        ["instance replacements", str(result["replacements"])],
    ]
    return md_table(["", "value"], rows)


COLDPATH = Part(
    name="coldpath",
    title="Cold path: request to first AI response",
    run=run_coldpath,
    render=render_coldpath,
    headline=_coldpath_rows,
    notes=(
        "agent: from just before `POST /v1/instances` until the first `POST /extract` on the "
        "returned endpoint answers 200. The agent reads the tag's digest and run contract "
        "(labels) from the registry API (the image is local by that digest, so nothing is "
        "pulled), creates and starts the container hardened (uid 10001, "
        "read-only, cap-drop ALL, no-new-privileges, 1 GiB, 1 CPU, 256 pids), polls its "
        "`/readyz` every 100 ms and answers 201 once it is 200; then the call is made.",
        "floor: the same image created and started directly with the same options (no agent, "
        "no registry call), `/readyz` polled every 50 ms, then the same `POST /extract`.",
        "The agent runs in the benchmark's process in loopback mode (AIs published on "
        "127.0.0.1) so that the benchmark can call the AI; the deployed agent runs the same "
        "code in its container in network mode. One unrecorded warm-up each, then rounds "
        "alternating the order.",
    ),
)

WARM = Part(
    name="warm",
    title="Warm path: worker overhead per document",
    run=run_warm,
    render=render_warm,
    headline=_warm_rows,
    notes=(
        "direct: `POST /extract` calls one after another on a ready instance (keep-alive "
        "session). worker: `aidock worker run` logic (`run_batch`) with concurrency 1 over the "
        "same documents as files: read, hash, call, validate against extraction/v1, append a "
        "JSONL line and fsync it. Its wall time excludes the instance start.",
        "Overhead per document = worker wall time per document minus direct wall time per "
        "document.",
    ),
)

BATCH = Part(
    name="batch",
    title="Batch: 1,000 documents",
    run=run_batch_part,
    render=render_batch,
    headline=_batch_rows,
    notes=(
        "1,000 generated documents (the corpus generator, a seed not used for training) as "
        "files, through the worker with concurrency 4: one instance from the agent, calls, "
        "terminate. lost = documents without a line in the output; duplicated = extra lines "
        "for a document. Both must be 0.",
        "Call p50/p95 are the worker's per-call times (`elapsed_ms` of each line), including "
        "retries if any.",
    ),
)

AGENT = Suite(
    name="agent",
    title="Agent and worker benchmarks",
    description=(
        "Cold path through the agent against a plain docker run, worker overhead per document, "
        "and a 1,000-document batch."
    ),
    parts=(COLDPATH, WARM, BATCH),
)
