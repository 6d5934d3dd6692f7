"""Benchmark images (naive reference, cold-start floor) and the image-size part.

The two images are built from Dockerfiles in ``bench/`` with a context staged under
``.cache/bench/<name>/``; a build is skipped when the image exists with the label
``ai.aidock.bench.inputs`` equal to the digest of its inputs (Dockerfile, files, base image id).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tarfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.errors import APIError, DockerException, ImageNotFound
from docker.models.images import Image

from aidock.digests import file_sha256
from bench.common import (
    BENCH_DIR,
    BENCH_LABEL,
    INPUTS_LABEL,
    ROOT,
    STAGING_DIR,
    WHEELHOUSE_DIR,
    BenchError,
    Context,
    fmt_bytes,
    fmt_ratio,
    log,
    md_table,
    ratio,
    timer,
)

NAIVE_IMAGE = "aidock-bench/naive-rag:latest"
FLOOR_IMAGE = "aidock-bench/floor:latest"
RAG_PYC_IMAGE = "aidock-bench/rag-pyc:latest"
PYTHON_BASE_IMAGE = "aidock/python-base:bookworm-1"
ROOTFS_IMAGE = "aidock/debian-rootfs:bookworm"
REGISTRY_IMAGE = "aidock/registry:2.8.2-1"
RAG_LOCK = ROOT / "images" / "rag" / "requirements.lock"
AIDOCK_WHEEL_NAME = "aidock-0.1.0-py3-none-any.whl"


# ----------------------------------------------------------------------------- inputs


def aidock_wheel() -> Path:
    """The newest aidock wheel of the wheelhouse (``.cache/wheelhouse/app-*/aidock-*.whl``)."""
    wheels = sorted(WHEELHOUSE_DIR.glob("app-*/aidock-*.whl"), key=lambda p: p.stat().st_mtime)
    if not wheels:
        raise BenchError(f"no aidock wheel under {WHEELHOUSE_DIR}/app-*/; run `make deploy` first")
    return wheels[-1]


def lock_wheelhouse(lock: Path, prefix: str) -> Path:
    """The wheelhouse tarball of ``lock``: the one named after its digest, else the newest."""
    text = lock.read_text(encoding="utf-8")
    # ansible's file lookup strips the trailing newline before hashing
    for content in (text.rstrip("\n"), text):
        named = WHEELHOUSE_DIR / f"{prefix}-{hashlib.sha1(content.encode()).hexdigest()[:16]}.tar"
        if named.is_file():
            return named
    tars = sorted(WHEELHOUSE_DIR.glob(f"{prefix}-*.tar"), key=lambda p: p.stat().st_mtime)
    if not tars:
        raise BenchError(
            f"no wheelhouse {WHEELHOUSE_DIR}/{prefix}-*.tar for {lock}; run `make deploy` first"
        )
    return tars[-1]


def rag_wheelhouse() -> Path:
    """The RAG wheelhouse tarball (``.cache/wheelhouse/rag-<lock digest>.tar``)."""
    return lock_wheelhouse(RAG_LOCK, "rag")


@dataclass(frozen=True)
class BenchImage:
    """An image built from ``bench/<directory>/Dockerfile`` with a staged context."""

    tag: str
    directory: str
    base: str
    # destination in the context -> source file (a .tar source is extracted into the destination)
    files: Callable[[], dict[str, Path]] = field(default=lambda: {})
    build_args: dict[str, str] = field(default_factory=dict)

    def sources(self) -> dict[str, Path]:
        """Every input file: the bench directory's files plus ``files``."""
        local = {
            p.relative_to(BENCH_DIR / self.directory).as_posix(): p
            for p in sorted((BENCH_DIR / self.directory).rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts
        }
        return {**local, **self.files()}


NAIVE = BenchImage(
    tag=NAIVE_IMAGE,
    directory="naive",
    base=ROOTFS_IMAGE,
    files=lambda: {
        "requirements.lock": RAG_LOCK,
        f"app/{AIDOCK_WHEEL_NAME}": aidock_wheel(),
        "wheelhouse": rag_wheelhouse(),
    },
)
FLOOR = BenchImage(tag=FLOOR_IMAGE, directory="floor", base=PYTHON_BASE_IMAGE)


def rag_pyc(rag_image: str) -> BenchImage:
    """Diagnostic: the RAG image plus compiled bytecode (``bench/rag-pyc``)."""
    return BenchImage(
        tag=RAG_PYC_IMAGE,
        directory="rag-pyc",
        base=rag_image,
        build_args={"RAG_IMAGE": rag_image},
    )


def _image(ctx: Context, ref: str) -> Image | None:
    try:
        return ctx.docker.images.get(ref)
    except ImageNotFound:
        return None


def inputs_digest(ctx: Context, spec: BenchImage) -> tuple[str, dict[str, Path]]:
    """sha256 over the base image id and every input file's name and content."""
    base = _image(ctx, spec.base)
    if base is None:
        raise BenchError(f"base image {spec.base} is missing; run `make deploy` first")
    sources = spec.sources()
    digest = hashlib.sha256(f"base {spec.base} {base.id}\n".encode())
    for key, value in sorted(spec.build_args.items()):
        digest.update(f"arg {key}={value}\n".encode())
    for name, path in sorted(sources.items()):
        digest.update(f"{name} {file_sha256(path)}\n".encode())
    return digest.hexdigest(), sources


def _stage(name: str, sources: dict[str, Path]) -> Path:
    context = STAGING_DIR / name
    shutil.rmtree(context, ignore_errors=True)
    context.mkdir(parents=True)
    for dest, src in sources.items():
        target = context / dest
        target.parent.mkdir(parents=True, exist_ok=True)
        if src.suffix == ".tar":
            target.mkdir()
            with tarfile.open(src) as tar:
                tar.extractall(target, filter="data")
        else:
            shutil.copy2(src, target)
    return context


def ensure_image(ctx: Context, spec: BenchImage) -> dict[str, Any]:
    """Build ``spec`` unless an image with the same inputs digest exists; describe the result."""
    digest, sources = inputs_digest(ctx, spec)
    current = _image(ctx, spec.tag)
    if current is not None and not ctx.rebuild and current.labels.get(INPUTS_LABEL) == digest:
        log(f"{spec.tag}: up to date (inputs {digest[:12]}), not rebuilt")
        return {
            "tag": spec.tag,
            "id": current.id,
            "size_bytes": int(current.attrs["Size"]),
            "built": False,
            "inputs_digest": digest,
        }
    log(f"{spec.tag}: building from bench/{spec.directory}/Dockerfile (inputs {digest[:12]})")
    context = _stage(spec.directory, sources)
    build_log = STAGING_DIR / f"{spec.directory}.build.log"
    cmd = [
        "docker", "build", "--progress=plain",
        "--label", f"{INPUTS_LABEL}={digest}", "--label", f"{BENCH_LABEL}=1",
        "--tag", spec.tag,
        *[f"--build-arg={key}={value}" for key, value in sorted(spec.build_args.items())],
        str(context),
    ]  # fmt: skip
    env = {**os.environ, "DOCKER_BUILDKIT": "1"}
    with timer() as elapsed, build_log.open("w", encoding="utf-8") as out:
        try:
            proc = subprocess.run(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
        except OSError as exc:
            raise BenchError(f"cannot run `docker build`: {exc}") from exc
    seconds = elapsed()
    if proc.returncode != 0:
        tail = "\n".join(build_log.read_text(encoding="utf-8").splitlines()[-25:])
        raise BenchError(f"building {spec.tag} failed (log: {build_log}):\n{tail}")
    shutil.rmtree(context, ignore_errors=True)
    built = ctx.docker.images.get(spec.tag)
    if current is not None and current.id != built.id:
        try:  # the previous build, now untagged
            ctx.docker.images.remove(current.id)
        except APIError as exc:
            log(f"could not remove the previous {spec.tag} ({current.id[:19]}): {exc}")
    log(f"{spec.tag}: built in {seconds:.0f} s")
    return {
        "tag": spec.tag,
        "id": built.id,
        "size_bytes": int(built.attrs["Size"]),
        "built": True,
        "build_seconds": round(seconds, 1),
        "inputs_digest": digest,
    }


# ----------------------------------------------------------------------------- sizes


def _describe(ctx: Context, ref: str, base_ref: str | None) -> dict[str, Any]:
    image = _image(ctx, ref)
    if image is None:
        raise BenchError(f"image {ref} is missing; run `make deploy` first")
    layers = image.attrs["RootFS"].get("Layers", [])
    info: dict[str, Any] = {
        "ref": ref,
        "id": image.id,
        "size_bytes": int(image.attrs["Size"]),
        "layers": len(layers),
        "created": image.attrs.get("Created"),
        "user": image.attrs["Config"].get("User") or "root",
    }
    base = _image(ctx, base_ref) if base_ref else None
    base_layers = base.attrs["RootFS"].get("Layers", []) if base is not None else []
    if base is not None and base_layers == layers[: len(base_layers)]:
        info["base"] = base_ref
        info["base_size_bytes"] = int(base.attrs["Size"])
        info["added_bytes"] = info["size_bytes"] - info["base_size_bytes"]
    history = image.history()
    info["history"] = [
        {"size_bytes": int(h.get("Size", 0)), "created_by": str(h.get("CreatedBy", ""))[:200]}
        for h in history
        if int(h.get("Size", 0)) > 0
    ]
    return info


PYC_COUNT = (
    "import glob, pathlib; "
    "count = lambda d: sum(1 for _ in pathlib.Path(d).rglob('*.pyc')) if d else 0; "
    "std = (glob.glob('/usr/lib/python3.*') or [None])[0]; "
    "print(count(std), count('/opt/venv') if pathlib.Path('/opt/venv').is_dir() else -1)"
)


def count_bytecode(ctx: Context, ref: str) -> dict[str, int] | None:
    """Number of ``.pyc`` files in the image's standard library and ``/opt/venv`` (-1: none)."""
    try:
        out = ctx.docker.containers.run(
            ref,
            entrypoint=["python3", "-c", PYC_COUNT],
            command=[],
            remove=True,
            network_disabled=True,
            labels={BENCH_LABEL: "1"},
            healthcheck={"test": ["NONE"]},
        )
        stdlib, venv = (int(n) for n in out.decode().split())
    except (DockerException, ValueError) as exc:
        log(f"cannot count the bytecode files of {ref}: {exc}")
        return None
    return {"stdlib": stdlib, "venv": venv}


def run_sizes(ctx: Context) -> dict[str, Any]:
    """Sizes of python-base, registry and the RAG image versus the naive single-stage image."""
    naive_build = ensure_image(ctx, NAIVE)
    images = {
        "python-base": _describe(ctx, PYTHON_BASE_IMAGE, ROOTFS_IMAGE),
        "registry": _describe(ctx, REGISTRY_IMAGE, PYTHON_BASE_IMAGE),
        "rag": _describe(ctx, ctx.rag_image, PYTHON_BASE_IMAGE),
        "naive-rag": _describe(ctx, NAIVE_IMAGE, ROOTFS_IMAGE),
        "debian-rootfs": _describe(ctx, ROOTFS_IMAGE, None),
    }
    for key in ("python-base", "rag", "naive-rag"):
        images[key]["pyc_files"] = count_bytecode(ctx, images[key]["ref"])
    naive = images["naive-rag"]
    # the naive image's own "Python base": the root filesystem plus the apt-installed toolchain
    toolchain = sum(
        h["size_bytes"] for h in naive["history"] if "apt-get install" in h["created_by"]
    )
    naive_base = images["debian-rootfs"]["size_bytes"] + toolchain
    naive["toolchain_bytes"] = toolchain
    comparisons = {
        "rag_vs_naive": ratio(images["rag"]["size_bytes"], naive["size_bytes"]),
        "python_base_vs_naive_base": ratio(images["python-base"]["size_bytes"], naive_base),
        "rag_app_layers_vs_naive_app_layers": ratio(
            images["rag"].get("added_bytes"), naive["size_bytes"] - naive_base
        ),
    }
    return {
        "images": images,
        "naive_base_bytes": naive_base,
        "comparisons": comparisons,
        "naive_build": naive_build,
    }


def _pyc(counts: dict[str, int] | None) -> str:
    if not counts:
        return ""
    venv = "no venv" if counts["venv"] < 0 else f"{counts['venv']:,}"
    return f"{counts['stdlib']:,} / {venv}"


def render_sizes(result: dict[str, Any]) -> str:
    """The sizes section of the report."""
    images = result["images"]
    comp = result["comparisons"]
    naive = images["naive-rag"]
    rows = [
        [
            "`aidock/python-base`",
            fmt_bytes(images["python-base"]["size_bytes"]),
            "Debian rootfs + full Python toolchain (naive image's lower layers)",
            fmt_bytes(result["naive_base_bytes"]),
            fmt_ratio(comp["python_base_vs_naive_base"]),
        ],
        [
            "`aidock/registry`",
            fmt_bytes(images["registry"]["size_bytes"]),
            "(no reference: public registry images cannot be pulled here)",
            "",
            "",
        ],
        [
            f"`{images['rag']['ref']}`",
            fmt_bytes(images["rag"]["size_bytes"]),
            f"`{naive['ref']}`",
            fmt_bytes(naive["size_bytes"]),
            f"**{fmt_ratio(comp['rag_vs_naive'])}**",
        ],
        [
            "rag: layers above the base (venv)",
            fmt_bytes(images["rag"].get("added_bytes")),
            "naive: layers above the toolchain (venv)",
            fmt_bytes(naive["size_bytes"] - result["naive_base_bytes"]),
            fmt_ratio(comp["rag_app_layers_vs_naive_app_layers"]),
        ],
    ]
    table = md_table(["ours", "size", "reference", "size", "ours/ref"], rows)
    details = md_table(
        ["image", "size", "layers", "user", "base", "added above base", ".pyc stdlib / venv"],
        [
            [
                f"`{info['ref']}`",
                fmt_bytes(info["size_bytes"]),
                str(info["layers"]),
                info["user"],
                f"`{info['base']}`" if info.get("base") else "",
                fmt_bytes(info.get("added_bytes")) if info.get("base") else "",
                _pyc(info.get("pyc_files")),
            ]
            for info in images.values()
        ],
    )
    return f"{table}\n\nAll images:\n\n{details}"
