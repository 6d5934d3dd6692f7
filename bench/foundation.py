"""The ``foundation`` suite: image sizes, cold start and query latency of the RAG AI."""

from __future__ import annotations

from typing import Any

from bench.coldstart import render_coldstart, run_coldstart
from bench.common import fmt_bytes, fmt_ms, fmt_ratio, fmt_seconds, ratio
from bench.images import render_sizes, run_sizes
from bench.latency import render_latency, run_latency
from bench.report import Part, Suite


def _sizes_headline(result: dict[str, Any]) -> list[list[str]]:
    images, comp = result["images"], result["comparisons"]
    return [
        [
            "image size, RAG AI",
            fmt_bytes(images["rag"]["size_bytes"]),
            f"naive single-stage {fmt_bytes(images['naive-rag']['size_bytes'])}",
            f"**{fmt_ratio(comp['rag_vs_naive'])}**",
        ],
        [
            "image size, python-base",
            fmt_bytes(images["python-base"]["size_bytes"]),
            f"rootfs + full Python toolchain {fmt_bytes(result['naive_base_bytes'])}",
            fmt_ratio(comp["python_base_vs_naive_base"]),
        ],
        ["image size, registry", fmt_bytes(images["registry"]["size_bytes"]), "", ""],
    ]


def _coldstart_headline(result: dict[str, Any]) -> list[list[str]]:
    sums, ratios = result["summaries"], result["ratios"]
    floor = f"floor {fmt_seconds(sums['floor']['ready_s']['median'])}"
    return [
        [
            "cold start to ready, RAG AI (median)",
            fmt_seconds(sums["rag"]["ready_s"]["median"]),
            floor,
            f"**{fmt_ratio(ratios['rag_vs_floor'])}**",
        ],
        [
            "cold start to ready, naive RAG (median)",
            fmt_seconds(sums["naive"]["ready_s"]["median"]),
            floor,
            fmt_ratio(ratios["naive_vs_floor"]),
        ],
        [
            "cold start to ready, RAG AI + .pyc (diagnostic, median)",
            fmt_seconds(sums["rag-pyc"]["ready_s"]["median"]),
            floor,
            fmt_ratio(ratios["rag_pyc_vs_floor"]),
        ],
    ]


def _latency_headline(result: dict[str, Any]) -> list[list[str]]:
    levels = {level["concurrency"]: level for level in result["levels"]}
    rows = []
    for concurrency, level in levels.items():
        lat = level["latency_s"]
        rows.append(
            [
                f"query latency p50 / p95, concurrency {concurrency}",
                f"{fmt_ms(lat.get('p50'))} / {fmt_ms(lat.get('p95'))}",
                "",
                "",
            ]
        )
    if 1 in levels and 8 in levels:
        one, eight = levels[1]["requests_per_s"], levels[8]["requests_per_s"]
        rows.append(
            [
                "queries/s, concurrency 8",
                f"{eight:.1f}",
                f"concurrency 1: {one:.1f}",
                fmt_ratio(ratio(eight, one)),
            ]
        )
    return rows


SIZES = Part(
    name="sizes",
    title="Image sizes",
    run=run_sizes,
    render=render_sizes,
    headline=_sizes_headline,
    notes=(
        "Uncompressed image sizes as the engine reports them (`docker image inspect` `.Size`, "
        "MB = 10^6 bytes as in `docker images`); layers shared with a base are counted in each "
        "image. Registry transfer (compressed) sizes are smaller.",
        "Reference: `aidock-bench/naive-rag`, the naive approach as one stage "
        "(`bench/naive/Dockerfile`): a general-purpose Debian with python3-full, python3-pip, "
        "python3-venv, python3-dev, build-essential, git and curl, the same hashed lock installed "
        "from the same wheelhouse (`--no-index --require-hashes`) plus the same aidock wheel, "
        "running as root with the same gunicorn command.",
        "The naive image is built FROM `aidock/debian-rootfs:bookworm`, i.e. from the same Debian "
        "bookworm packages as our base, because public base images (python:3.11, debian) cannot "
        "be pulled here.",
        "The naive build bind-mounts the wheelhouse (as if pip had downloaded from an index with "
        "`--no-cache-dir`), installs with `--no-install-recommends` and removes the apt lists, so "
        "the reference is on the lean side of naive. Both keep the `.pyc` files of their "
        "venv and standard library; ours drops pip.",
        "python-base is compared with the naive image's own lower layers: the root filesystem "
        "plus the apt-installed toolchain layer.",
        "The naive image is built once and reused while the digest of its inputs (Dockerfile, "
        "lock, wheelhouse, aidock wheel, base image id; label `ai.aidock.bench.inputs`) is "
        "unchanged; the first build takes a few minutes (apt over HTTP).",
    ),
)

COLDSTART = Part(
    name="coldstart",
    title="Cold start (docker run to ready)",
    run=run_coldstart,
    render=render_coldstart,
    headline=_coldstart_headline,
    notes=(
        "From just before the container-create API call until `GET /readyz` first answers 200 "
        "through a port published on 127.0.0.1 (a random free port), polled every 50 ms. "
        "'first HTTP answer' is the first response of any status (the RAG AI answers 503 while "
        "its store opens); 'create+start returned' is when the start call returned.",
        "floor = `aidock-bench/floor` (`bench/floor/`): a standard-library `http.server` on the "
        "same `aidock/python-base:bookworm-1`, i.e. what the runtime and the engine cost before "
        "any application code.",
        "floor, rag and the diagnostic rag + .pyc run with the deployed stack's options "
        "(uid 10001, read-only root, cap-drop ALL, no-new-privileges, 1 GiB memory, 256 pids, "
        "tmpfs /tmp; rag: tmpfs /data "
        "owned by 10001, so every start opens an empty store); the naive image runs as a plain "
        "`docker run` as root with a tmpfs /data. Image HEALTHCHECKs are disabled (docker's "
        "5 s interval measures nothing finer).",
        "Images are local (no pull). Each image gets one unrecorded warm-up start, then the "
        "recorded rounds alternate the order floor, rag, naive / naive, rag, floor. Containers "
        "are labelled `ai.aidock.bench=1` and removed after each sample.",
        "The deployed RAG stack keeps running (idle) during the measurement.",
    ),
)

LATENCY = Part(
    name="latency",
    title="Query latency (deployed stack)",
    run=run_latency,
    render=render_latency,
    headline=_latency_headline,
    notes=(
        "Against the deployed stack (`make up`) on 127.0.0.1:5001: the shipped documents "
        "(data/docs) are upserted into the collection `bench` first, then each concurrency level "
        "sends its warm-up questions (not recorded) and its recorded questions, drawn in turn "
        "from 10 fixed questions about the documents (`bench/latency.py`).",
        "Threads share one request counter; each thread has its own `requests.Session` "
        "(keep-alive). Latency is the client-side time of one POST including reading the JSON "
        "answer; requests/s = successful answers / wall time from the end of the warm-up to the "
        "last answer. Percentiles interpolate linearly between ranks.",
        "The stack runs offline (hashing embeddings, extractive answers) unless an OpenAI key is "
        "configured; the `mode` of the answers is recorded. The server is one gunicorn worker "
        "with 8 threads; the client runs on the same host and competes for its cores.",
        "'answer source found' = the document that answers the question is among the returned "
        "sources: a sanity check that real answers came back, not a quality metric.",
    ),
)

FOUNDATION = Suite(
    name="foundation",
    title="Foundation benchmarks",
    description=(
        "Image sizes, cold start and query latency of the RAG AI against a naive single-stage "
        "image and a minimal HTTP server on the same base."
    ),
    parts=(SIZES, COLDSTART, LATENCY),
)
