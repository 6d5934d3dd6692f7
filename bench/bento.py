"""The ``bento`` suite: our hardened extraction image against ``bentoml containerize``'s default.

Both images serve the same Bento (same entry module, model and lock; see
``bench/bentoml_default.py`` for how theirs is built offline). Parts: image sizes, ``docker
run`` to ``/readyz`` 200, and throughput at concurrency 8 of ``POST /extract`` against calling
the same model in-process.
"""

from __future__ import annotations

import threading
from typing import Any

import requests
from docker.errors import DockerException

from aidock.ais.corpus import generate
from bench.bentoml_default import (
    STANDIN,
    THEIRS_IMAGE,
    bento_info,
    ensure_theirs,
    import_bento,
    our_bento,
)
from bench.coldstart import HARDENED, Subject, measure_starts, remove_leftovers, running
from bench.common import (
    BENCH_LABEL,
    BenchError,
    Context,
    fmt_bytes,
    fmt_ms,
    fmt_ratio,
    fmt_seconds,
    log,
    md_table,
    ratio,
    summary,
)
from bench.images import PYTHON_BASE_IMAGE, _describe
from bench.load import run_load
from bench.report import Part, Suite

OURS_IMAGE = "localhost:5000/aidock/extraction:0.1.0"
SERVICE_PORT = "3000/tcp"
SUITE = "bento"
CONCURRENCY = 8
DOCUMENTS = 32
DOCUMENT_SEED = 20261126
TIMEOUT = 60.0
# Goals of issue 3.
SIZE_GOAL = 0.30
READY_GOAL = 0.6
THROUGHPUT_GOAL = 0.5
TOOLS = ("gcc", "cc", "make", "git", "curl", "apt-get", "dpkg", "pip", "uv", "sh", "bash")
WHICH = "import shutil, sys; print(' '.join(t for t in sys.argv[1:] if shutil.which(t)))"


def subjects() -> list[Subject]:
    """Ours as the compose stack runs it; theirs as BentoML documents ``docker run``."""
    return [
        Subject(
            "ours",
            "ours (aidock hardened)",
            OURS_IMAGE,
            {**HARDENED, "tmpfs": {"/tmp": "size=256m,mode=1777"}},
            port=SERVICE_PORT,
            suite=SUITE,
        ),
        Subject(
            "theirs",
            "bentoml containerize default",
            THEIRS_IMAGE,
            # The service binds 127.0.0.1 by default; the container must listen on all.
            {"command": ["serve", "--host", "0.0.0.0"]},
            port=SERVICE_PORT,
            suite=SUITE,
        ),
    ]


def verdict(value: float | None, goal: float, at_most: bool) -> str:
    """``met`` / ``missed`` for a ratio against its goal (``n/a`` without a value)."""
    if value is None:
        return "n/a"
    return "met" if (value <= goal if at_most else value >= goal) else "missed"


def goal_text(value: float | None, goal: float, at_most: bool) -> str:
    """``**0.28x** (goal <= 0.30x: met)``."""
    sign = "<=" if at_most else ">="
    return f"**{fmt_ratio(value)}** (goal {sign} {goal:.2f}x: {verdict(value, goal, at_most)})"


# ----------------------------------------------------------------------------- sizes


def which_tools(ctx: Context, ref: str) -> list[str] | None:
    """The ``TOOLS`` on the image's PATH, found by its own Python (None if it cannot run)."""
    try:
        out = ctx.docker.containers.run(
            ref,
            entrypoint=["python3", "-c", WHICH, *TOOLS],
            command=[],
            remove=True,
            network_disabled=True,
            labels={BENCH_LABEL: "1", f"{BENCH_LABEL}.suite": SUITE},
            healthcheck={"test": ["NONE"]},
        )
    except DockerException as exc:
        log(f"cannot list the tools of {ref}: {exc}")
        return None
    return out.decode().split()


def size_ratios(ours: int, theirs: int, standin: int, base: int) -> dict[str, float | None]:
    """Whole-image ratio, and the same with their base swapped for ours (base-neutral).

    ``theirs - standin + base`` is their image on a base as small as our python-base; the real
    python:3.11-slim is larger than that, so this ratio is a bound in their favour.
    """
    return {
        "ours_vs_theirs": ratio(ours, theirs),
        "ours_vs_theirs_on_our_base": ratio(ours, theirs - standin + base),
        "ours_added_vs_theirs_added": ratio(ours - base, theirs - standin),
    }


def run_sizes(ctx: Context) -> dict[str, Any]:
    """Sizes of ours, theirs, the stand-in base and our python-base."""
    build = ensure_theirs(ctx, OURS_IMAGE)
    images = {
        "ours": _describe(ctx, OURS_IMAGE, PYTHON_BASE_IMAGE),
        "theirs": _describe(ctx, THEIRS_IMAGE, STANDIN.tag),
        "standin": _describe(ctx, STANDIN.tag, None),
        "python-base": _describe(ctx, PYTHON_BASE_IMAGE, None),
    }
    for key in ("ours", "theirs"):
        images[key]["tools"] = which_tools(ctx, images[key]["ref"])
    size = {key: int(info["size_bytes"]) for key, info in images.items()}
    return {
        "images": images,
        "ratios": size_ratios(size["ours"], size["theirs"], size["standin"], size["python-base"]),
        "goal": SIZE_GOAL,
        "their_build": build,
    }


def render_sizes(result: dict[str, Any]) -> str:
    """The sizes section."""
    images, ratios = result["images"], result["ratios"]
    rows = [
        [
            key,
            f"`{info['ref']}`",
            fmt_bytes(info["size_bytes"]),
            str(info["layers"]),
            info["user"],
            fmt_bytes(info.get("added_bytes")) if info.get("base") else "",
            " ".join(info.get("tools") or []) if "tools" in info else "",
        ]
        for key, info in images.items()
    ]
    table = md_table(
        ["image", "ref", "size", "layers", "user", "above its base", "tools on PATH"], rows
    )
    build = result["their_build"]
    steps = "\n".join(f"    {step}" for step in build.get("dockerfile_steps", []))
    return (
        f"{table}\n\nours/theirs {goal_text(ratios['ours_vs_theirs'], SIZE_GOAL, True)}; "
        f"with their base swapped for our python-base (a bound in their favour) "
        f"{fmt_ratio(ratios['ours_vs_theirs_on_our_base'])}; layers above the base "
        f"{fmt_ratio(ratios['ours_added_vs_theirs_added'])}.\n\n"
        f"Their image: Bento `{build['their_bento']}` (rebuilt from ours, "
        f"`{build['our_bento']}`), BentoML {build['bentoml_version']}, "
        f"{'built in ' + str(build.get('build_seconds')) + ' s' if build['built'] else 'reused'}"
        f" (inputs `{build['inputs_digest'][:12]}`). Steps of the Dockerfile BentoML "
        f"generated:\n\n{steps}\n"
    )


def _sizes_headline(result: dict[str, Any]) -> list[list[str]]:
    images, ratios = result["images"], result["ratios"]
    return [
        [
            "image size, extraction AI",
            fmt_bytes(images["ours"]["size_bytes"]),
            f"bentoml containerize {fmt_bytes(images['theirs']['size_bytes'])} "
            "(on a stand-in python:3.11-slim)",
            goal_text(ratios["ours_vs_theirs"], SIZE_GOAL, True),
        ],
        [
            "image size, theirs on our base (bound in their favour)",
            fmt_bytes(images["ours"]["size_bytes"]),
            fmt_bytes(
                images["theirs"]["size_bytes"]
                - images["standin"]["size_bytes"]
                + images["python-base"]["size_bytes"]
            ),
            fmt_ratio(ratios["ours_vs_theirs_on_our_base"]),
        ],
    ]


# ----------------------------------------------------------------------------- cold start


def run_coldstart(ctx: Context) -> dict[str, Any]:
    """One warm-up then ``ctx.repeat`` starts of each image, order reversed every round."""
    remove_leftovers(ctx, SUITE)
    build = ensure_theirs(ctx, OURS_IMAGE)
    subs = subjects()
    samples, summaries = measure_starts(ctx, subs)
    med = {key: item["ready_s"]["median"] for key, item in summaries.items()}
    return {
        "repeat": ctx.repeat,
        "options": {s.key: s.options for s in subs},
        "summaries": summaries,
        "ratios": {"ours_vs_theirs": ratio(med["ours"], med["theirs"])},
        "goal": READY_GOAL,
        "their_image_id": build["id"],
        "samples": samples,
    }


def render_coldstart(result: dict[str, Any]) -> str:
    """The cold-start section."""
    rows = [
        [
            item["title"],
            f"`{item['image']}`",
            f"**{fmt_seconds(item['ready_s']['median'])}**",
            f"{fmt_seconds(item['ready_s']['min'])} / {fmt_seconds(item['ready_s']['max'])}",
            fmt_seconds(item["first_response_s"]["median"]),
            fmt_seconds(item["start_s"]["median"]),
        ]
        for item in result["summaries"].values()
    ]
    table = md_table(
        ["image", "ref", "ready (median)", "min / max", "first HTTP answer", "start returned"],
        rows,
    )
    value = result["ratios"]["ours_vs_theirs"]
    return (
        f"{table}\n\n{result['repeat']} recorded starts each (after one warm-up start); "
        f"ours/theirs {goal_text(value, READY_GOAL, True)} (medians)."
    )


def _coldstart_headline(result: dict[str, Any]) -> list[list[str]]:
    sums = result["summaries"]
    return [
        [
            "docker run to /readyz 200 (median)",
            fmt_seconds(sums["ours"]["ready_s"]["median"]),
            f"bentoml containerize {fmt_seconds(sums['theirs']['ready_s']['median'])}",
            goal_text(result["ratios"]["ours_vs_theirs"], READY_GOAL, True),
        ]
    ]


# ----------------------------------------------------------------------------- throughput


def documents(count: int = DOCUMENTS, seed: int = DOCUMENT_SEED) -> list[str]:
    """Generated documents (the corpus the AI is trained on, another seed), none empty."""
    texts = [doc.text for doc in generate(count, seed=seed) if doc.text.strip()]
    if not texts:
        raise BenchError("the corpus generator produced no document")
    return texts


def in_process_model(ctx: Context) -> Any:
    """The extraction AI loaded from the model file of our Bento (digest checked)."""
    # scikit-learn takes seconds to import: only this part of the suite needs it.
    from aidock.ais.extraction import ExtractionAI  # noqa: PLC0415  scikit-learn

    store_dir = import_bento(our_bento(ctx, OURS_IMAGE))
    labels = bento_info(store_dir).get("labels") or {}
    model_file, sha256 = labels.get("ai.aidock.model-file"), labels.get("ai.aidock.model-sha256")
    if not model_file or not sha256:
        raise BenchError(f"{store_dir}/bento.yaml lacks the ai.aidock.model-* labels")
    return ExtractionAI.load(store_dir.parents[2] / model_file, sha256=sha256)


def http_caller(url: str, texts: list[str]) -> Any:
    """``call(index)``: POST text ``index % len`` to ``url``, one session per thread."""
    local = threading.local()

    def call(index: int) -> None:
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        resp = session.post(url, json={"text": texts[index % len(texts)]}, timeout=TIMEOUT)
        if resp.status_code != 200:
            raise BenchError(f"HTTP {resp.status_code}: {resp.text[:200]}")
        if "spans" not in resp.json():
            raise BenchError(f"no spans in the answer: {resp.text[:200]}")

    return call


def _served(ctx: Context, subject: Subject, texts: list[str]) -> dict[str, Any]:
    with running(ctx, subject) as started:
        url = f"http://127.0.0.1:{started['port']}/extract"
        level = run_load(http_caller(url, texts), CONCURRENCY, ctx.requests, ctx.warmup)
    log(
        f"{subject.key} served, concurrency {CONCURRENCY}: {level['requests_per_s']:.1f} req/s, "
        f"p95 {fmt_ms(level['latency_s'].get('p95'))}, {level['errors']} errors"
    )
    return {"image": subject.image, "ready_s": started["ready_s"], **level}


def run_throughput(ctx: Context) -> dict[str, Any]:
    """In-process at concurrency 1 and 8, then ours and theirs served at concurrency 8."""
    remove_leftovers(ctx, SUITE)
    texts = documents()
    ai = in_process_model(ctx)
    in_process = {}
    for concurrency in (1, CONCURRENCY):
        level = run_load(
            lambda i: ai.predict(texts[i % len(texts)]), concurrency, ctx.requests, ctx.warmup
        )
        log(f"in-process, concurrency {concurrency}: {level['requests_per_s']:.1f} calls/s")
        in_process[str(concurrency)] = level
    best = max(level["requests_per_s"] or 0.0 for level in in_process.values())
    served: dict[str, Any] = {}
    errors: dict[str, str] = {}
    subs = {s.key: s for s in subjects()}
    served["ours"] = _served(ctx, subs["ours"], texts)
    try:
        ensure_theirs(ctx, OURS_IMAGE)
        served["theirs"] = _served(ctx, subs["theirs"], texts)
    except BenchError as exc:  # theirs is a reference: report it, keep our numbers
        errors["theirs"] = str(exc)
        log(f"theirs served: {exc}")
    return {
        "concurrency": CONCURRENCY,
        "documents": {
            "count": len(texts),
            "seed": DOCUMENT_SEED,
            "chars": summary([float(len(t)) for t in texts]),
        },
        "in_process": in_process,
        "in_process_best_per_s": best,
        "served": served,
        "errors": errors,
        "ratios": {
            "ours_served_vs_in_process": ratio(served["ours"]["requests_per_s"], best),
            "theirs_served_vs_in_process": ratio(
                served.get("theirs", {}).get("requests_per_s"), best
            ),
            "ours_vs_theirs_served": ratio(
                served["ours"]["requests_per_s"], served.get("theirs", {}).get("requests_per_s")
            ),
        },
        "goal": THROUGHPUT_GOAL,
    }


def _level_row(label: str, level: dict[str, Any]) -> list[str]:
    lat = level["latency_s"]
    return [
        label,
        str(level["concurrency"]),
        f"{level['ok']}/{level['requests']}",
        f"**{(level['requests_per_s'] or 0.0):.1f}**",
        fmt_ms(lat.get("p50")),
        f"**{fmt_ms(lat.get('p95'))}**",
        fmt_ms(lat.get("max")),
    ]


def render_throughput(result: dict[str, Any]) -> str:
    """The throughput section."""
    rows = [
        _level_row(f"in-process `ExtractionAI.predict`, {n} thread(s)", level)
        for n, level in result["in_process"].items()
    ]
    titles = {"ours": "served, ours", "theirs": "served, bentoml containerize default"}
    rows += [_level_row(titles[key], level) for key, level in result["served"].items()]
    rows += [[titles[key], "", "failed", "", "", "", ""] for key in result["errors"]]
    table = md_table(["what", "concurrency", "ok", "requests/s", "p50", "p95", "max"], rows)
    r = result["ratios"]
    docs = result["documents"]
    failed = "".join(
        f"\n\nTheirs could not be measured: {msg.splitlines()[0]}"
        for msg in result["errors"].values()
    )
    return (
        f"{table}\n\nOurs served / in-process (best of 1 and 8 threads, "
        f"{result['in_process_best_per_s']:.1f} calls/s): "
        f"{goal_text(r['ours_served_vs_in_process'], THROUGHPUT_GOAL, False)}; theirs served / "
        f"in-process {fmt_ratio(r['theirs_served_vs_in_process'])}; ours/theirs served "
        f"{fmt_ratio(r['ours_vs_theirs_served'])}. Documents: {docs['count']} generated "
        f"(seed {docs['seed']}), {docs['chars']['median']:.0f} characters median.{failed}"
    )


def _throughput_headline(result: dict[str, Any]) -> list[list[str]]:
    served, r = result["served"], result["ratios"]
    ours = served["ours"]
    theirs = served.get("theirs")
    return [
        [
            f"POST /extract, concurrency {result['concurrency']}: requests/s (p95)",
            f"{ours['requests_per_s']:.1f} ({fmt_ms(ours['latency_s'].get('p95'))})",
            f"in-process {result['in_process_best_per_s']:.1f} calls/s",
            goal_text(r["ours_served_vs_in_process"], THROUGHPUT_GOAL, False),
        ],
        [
            f"POST /extract, concurrency {result['concurrency']}, theirs served",
            f"{ours['requests_per_s']:.1f}",
            (
                f"{theirs['requests_per_s']:.1f} ({fmt_ms(theirs['latency_s'].get('p95'))} p95)"
                if theirs
                else "failed"
            ),
            fmt_ratio(r["ours_vs_theirs_served"]),
        ],
    ]


BUSY_HOST = (
    "These numbers come from a busy host (other builds and tests ran alongside on its 2 cores); "
    "the load averages are printed under each part. Rerun in a quiet window before quoting them."
)

SIZES = Part(
    name="sizes",
    title="Image sizes: ours vs bentoml containerize",
    run=run_sizes,
    render=render_sizes,
    headline=_sizes_headline,
    notes=(
        BUSY_HOST,
        "Same Bento on both sides: ours is the deployed `localhost:5000/aidock/extraction:0.1.0` "
        "(`images/bento/Dockerfile`, multi-stage on `aidock/python-base`); theirs is a rebuilt "
        "copy of that Bento (same entry module, same model, same hashed lock plus the aidock "
        "wheel) with a `bentofile.yaml` that only adds the wheelhouse options below and drops "
        "our `dockerfile_template`, built by `bentoml containerize` into "
        "`aidock-bench/bentoml-default:latest` (BentoML's default `base_v2.j2` Dockerfile).",
        "STAND-IN BASE: BentoML's default Dockerfile is `FROM python:3.11-slim`, which cannot "
        "be pulled here. `python:3.11-slim` is a local stand-in built from Debian bookworm's "
        "python3, python3-pip and python3-venv on `aidock/debian-rootfs:bookworm` "
        "(`bench/standin/Dockerfile`); its size is in the table. It is larger than the official "
        "image (our debootstrap root filesystem is larger than debian:bookworm-slim), which "
        "inflates theirs: the 'theirs on our base' row replaces the stand-in by our 106 MB "
        "python-base, a bound in their favour, and still compares whole images.",
        "Wheelhouse for their build, through BentoML's documented options: bentofile "
        "`python.no_index: true` and `python.find_links: [<url>]` (written as `--no-index` / "
        "`--find-links` into the Bento's requirements.txt, used by `uv pip install`), "
        "`python.lock_packages: false` (our lock is already resolved and hashed). The default "
        "Dockerfile pip-installs `uv==0.13.4` (hash-pinned) BEFORE it copies any file of the "
        "Bento, so no bentofile option can put the uv wheel in the build: the bentofile's "
        "`envs` set `PIP_NO_INDEX=1` and `PIP_FIND_LINKS=<url>` (pip reads its options from "
        "the environment) and the uv wheel (downloaded on the host with `pip download "
        "uv==0.13.4`, hash checked by the build) is served from the same wheelhouse. `<url>` is "
        "a temporary HTTP server on 127.0.0.1 serving the Bento lock's wheelhouse, the aidock "
        "wheel and the uv wheel; the build reaches it through `bentoml containerize --network "
        "host`, a documented build option passed to `docker build`. Those two ENV lines stay in "
        "their image; the only other download is Debian packages over http (apt-get of "
        "build-essential and git, which the default Dockerfile installs).",
        "`bentoml containerize` rewrites `python.wheels` into the v1 Bento format (wheels copied "
        "into the Bento and the image); it is not used, so the comparison is against the "
        "current default format.",
        "Their image is built once and reused while the digest of its inputs (stand-in image id, "
        "our Bento archive, wheelhouse, aidock wheel, bentofile template, uv pin, BentoML "
        "version; label `ai.aidock.bench.inputs`) is unchanged; `--rebuild` forces it.",
        "Sizes are uncompressed (`docker image inspect` .Size, MB = 10^6 bytes). 'tools on "
        "PATH' is what `shutil.which` finds inside each image for: " + ", ".join(TOOLS) + ".",
    ),
)

COLDSTART = Part(
    name="coldstart",
    title="docker run to ready",
    run=run_coldstart,
    render=render_coldstart,
    headline=_coldstart_headline,
    notes=(
        "From just before the container-create API call until `GET /readyz` first answers 200 "
        "through a port published on 127.0.0.1 (random free port), polled every 50 ms "
        "(`bench/coldstart.py`). Image HEALTHCHECKs are disabled.",
        "Ours runs as the compose stack runs it (uid 10001, read-only root, cap-drop ALL, "
        "no-new-privileges, 1 GiB memory, 256 pids, tmpfs /tmp); theirs as BentoML documents "
        "it, a plain `docker run IMAGE serve --host 0.0.0.0` (the service is configured to bind "
        "127.0.0.1, which a published port cannot reach).",
        "One unrecorded warm-up start each, then rounds alternating the order.",
    ),
)

THROUGHPUT = Part(
    name="throughput",
    title="Throughput: served vs in-process",
    run=run_throughput,
    render=render_throughput,
    headline=_throughput_headline,
    notes=(
        f"Closed loop (`bench/load.py`): {CONCURRENCY} client threads, each with its own "
        "keep-alive `requests.Session`, share the warm-up (not recorded) and the recorded "
        "requests; requests/s = successful answers / wall time of the recorded ones. Each "
        f"request is `POST /extract` with one of {DOCUMENTS} generated documents "
        f"(`aidock.ais.corpus.generate(seed={DOCUMENT_SEED})`), taken in turn.",
        "In-process: the same model file (`model.joblib` of our Bento, digest checked) loaded "
        "with `ExtractionAI.load` in the bench process and called as `predict(text)` through "
        "the same load generator with 1 and with 8 threads; the better of the two is the "
        "reference, so the ratio is the conservative one.",
        "Served: a fresh container of each image (same options as in the cold-start part), "
        "measured once ready; one BentoML worker each (the Bento's service config). Client, "
        "server and in-process runs share the host's 2 cores.",
    ),
)

BENTO = Suite(
    name=SUITE,
    title="Bento benchmarks",
    description=(
        "The extraction AI's hardened image against `bentoml containerize`'s default image of "
        "the same Bento: size, docker run to ready, and served throughput against in-process."
    ),
    parts=(SIZES, COLDSTART, THROUGHPUT),
)
