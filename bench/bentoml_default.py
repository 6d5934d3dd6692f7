"""The reference of the ``bento`` suite: our Bento built by ``bentoml containerize`` (defaults).

Our deployed image names its Bento (label ``ai.aidock.bento``); the site deploy exported that
Bento to ``.cache/bento/<ai>-<digest>/archive/<name>-<version>.bento``. The bench imports it
into its own BentoML store (``.cache/bench/bento/home``) and rebuilds it as a user of BentoML
would, with a ``bentofile.yaml`` and without our Dockerfile template: same entry module, same
model, same hashed lock plus the aidock wheel. Such a Bento has no Dockerfile of ours, so
``bentoml containerize`` renders BentoML's default one (``base_v2.j2``: ``FROM
python:3.11-slim``, apt-get of build-essential and git, pip-installed uv, a uv venv).

Nothing is downloaded in that build except Debian packages over http:

- ``python:3.11-slim`` is a local stand-in (``bench/standin``), since nothing can be pulled;
- the Bento's own requirements get ``--no-index`` and ``--find-links <url>`` through the
  documented bentofile options ``python.no_index`` and ``python.find_links``;
- the default Dockerfile pip-installs uv before it copies any file of the Bento, so uv can only
  come from an index: the bentofile's ``envs`` set ``PIP_NO_INDEX=1`` and ``PIP_FIND_LINKS``
  (pip's own environment configuration) to the same ``<url>``;
- ``<url>`` is a throwaway HTTP server on 127.0.0.1 serving the wheelhouse (the Bento lock's
  wheels, the aidock wheel and uv's wheel), reached through ``bentoml containerize --network
  host``, a documented ``docker build`` option that ``containerize`` passes through.

The image is labelled with the digest of its inputs and rebuilt only when they change.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import http.server
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import yaml
from docker.errors import APIError, ImageNotFound

from aidock.digests import file_sha256
from bench.common import (
    BENCH_LABEL,
    INPUTS_LABEL,
    ROOT,
    STAGING_DIR,
    WHEELHOUSE_DIR,
    BenchError,
    Context,
    log,
    timer,
)
from bench.images import ROOTFS_IMAGE, BenchImage, aidock_wheel, ensure_image, lock_wheelhouse

THEIRS_IMAGE = "aidock-bench/bentoml-default:latest"
STANDIN = BenchImage(tag="python:3.11-slim", directory="standin", base=ROOTFS_IMAGE)
BENTO_LOCK = ROOT / "images" / "bento" / "requirements.lock"
SITE_BENTO_DIR = ROOT / ".cache" / "bento"
CACHE_DIR = STAGING_DIR / "bento"
BENTOML_HOME = CACHE_DIR / "home"
# The uv that BentoML's default Dockerfile pins (with hashes) in its install step.
UV_REQUIREMENT = "uv==0.13.4"
BENTO_LABEL = "ai.aidock.bento"

# {placeholders} are filled by render_bentofile; the URL is left out of the inputs digest.
BENTOFILE = """\
# Written by bench/bentoml_default.py: our Bento as a BentoML user would build it.
service: "{service}"
name: {name}
include: ["{entry}", "requirements.txt"]
labels:
  ai.aidock.bench: bentoml-default
envs:
  # BentoML's default Dockerfile pip-installs uv before any file of the Bento is copied.
  - name: PIP_NO_INDEX
    value: "1"
  - name: PIP_FIND_LINKS
    value: "{wheel_url}"
python:
  requirements_txt: requirements.txt
  lock_packages: false
  no_index: true
  find_links: ["{wheel_url}"]
docker:
  distro: debian
  python_version: "{python_version}"
"""


@dataclass(frozen=True)
class OurBento:
    """The Bento our deployed image was built from, and its exported archive."""

    tag: str
    archive: Path

    @property
    def name(self) -> str:
        return self.tag.split(":", 1)[0]

    @property
    def version(self) -> str:
        return self.tag.split(":", 1)[1]

    def app_wheel(self) -> Path:
        """The aidock wheel the image was built with: ``app-<digest>`` of ``<ai>-<digest>``."""
        digest = self.archive.parents[1].name.rsplit("-", 1)[-1]
        found = sorted((WHEELHOUSE_DIR / f"app-{digest}").glob("aidock-*.whl"))
        return found[-1] if found else aidock_wheel()

    @property
    def store_dir(self) -> Path:
        """Where the bench's BentoML store keeps it once imported."""
        return BENTOML_HOME / "bentos" / self.name / self.version


def find_archive(tag: str, root: Path = SITE_BENTO_DIR) -> Path:
    """``<root>/*/archive/<name>-<version>.bento`` of Bento ``tag`` (the newest if several)."""
    if tag.count(":") != 1 or not all(tag.split(":")):
        raise BenchError(f"not a Bento tag: {tag!r}")
    name, version = tag.split(":")
    found = sorted(root.glob(f"*/archive/{name}-{version}.bento"), key=lambda p: p.stat().st_mtime)
    if not found:
        raise BenchError(f"no archive of Bento {tag} under {root}/*/archive/; run `make deploy`")
    return found[-1]


def our_bento(ctx: Context, image: str) -> OurBento:
    """The Bento named by ``image``'s label ``ai.aidock.bento``."""
    try:
        labels = ctx.docker.images.get(image).labels or {}
    except ImageNotFound as exc:
        raise BenchError(f"image {image} is missing; run `make deploy` first") from exc
    tag = labels.get(BENTO_LABEL)
    if not tag:
        raise BenchError(f"image {image} has no label {BENTO_LABEL}")
    return OurBento(tag=tag, archive=find_archive(tag))


def bentoml_env() -> dict[str, str]:
    """The environment of the ``bentoml`` CLI: the bench's own store, no telemetry."""
    return {**os.environ, "BENTOML_HOME": str(BENTOML_HOME), "BENTOML_DO_NOT_TRACK": "true"}


def _bentoml(args: list[str], log_path: Path, cwd: Path | None = None) -> None:
    """Run ``bentoml <args>`` with output in ``log_path``; BenchError on failure."""
    cli = Path(sys.executable).with_name("bentoml")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("w", encoding="utf-8") as out:
        try:
            proc = subprocess.run(
                [str(cli), *args],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=bentoml_env(),
                cwd=cwd,
                check=False,
            )
        except OSError as exc:
            raise BenchError(f"cannot run {cli}: {exc}") from exc
    if proc.returncode != 0:
        tail = "\n".join(log_path.read_text(encoding="utf-8").splitlines()[-25:])
        raise BenchError(f"`bentoml {args[0]}` failed (log: {log_path}):\n{tail}")


def import_bento(bento: OurBento) -> Path:
    """Import ``bento``'s archive (with its model) into the bench's store once."""
    if not (bento.store_dir / "bento.yaml").is_file():
        log(f"importing {bento.archive.name} into {BENTOML_HOME}")
        _bentoml(["import", str(bento.archive)], CACHE_DIR / "import.log")
    return bento.store_dir


def bento_info(store_dir: Path) -> dict[str, Any]:
    """The ``bento.yaml`` of a stored Bento."""
    data = yaml.safe_load((store_dir / "bento.yaml").read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise BenchError(f"{store_dir}/bento.yaml is not a mapping")
    return data


def render_bentofile(service: str, name: str, wheel_url: str, python_version: str = "3.11") -> str:
    """The bentofile of their Bento: entry ``module:Class``, wheelhouse options."""
    entry = service.split(":", 1)[0] + ".py"
    return BENTOFILE.format(
        service=service,
        name=name,
        entry=entry,
        wheel_url=wheel_url,
        python_version=python_version,
    )


def requirements_txt(lock_text: str, app_requirement: str) -> str:
    """Our hashed lock plus the unhashed aidock requirement (its wheel is in the wheelhouse)."""
    return lock_text.rstrip("\n") + f"\n{app_requirement}\n"


def app_requirement(wheel: Path) -> str:
    """``aidock-0.1.0-py3-none-any.whl`` -> ``aidock==0.1.0``."""
    parts = wheel.name.split("-")
    if len(parts) < 5 or not wheel.name.endswith(".whl"):
        raise BenchError(f"not a wheel file name: {wheel.name}")
    return f"{parts[0]}=={parts[1]}"


def uv_wheel() -> Path:
    """uv's manylinux wheel under ``.cache/bench/bento/uv/`` (``pip download`` on the host)."""
    target = CACHE_DIR / "uv"
    version = UV_REQUIREMENT.split("==")[1]
    found = sorted(target.glob(f"uv-{version}-*manylinux*x86_64*.whl"))
    if found:
        return found[0]
    log(f"downloading {UV_REQUIREMENT} with the host's pip into {target}")
    cmd = [sys.executable, "-m", "pip", "download", UV_REQUIREMENT, "--no-deps"]
    cmd += ["--only-binary", ":all:", "--dest", str(target)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    found = sorted(target.glob(f"uv-{version}-*manylinux*x86_64*.whl"))
    if proc.returncode != 0 or not found:
        raise BenchError(f"cannot download {UV_REQUIREMENT}: {proc.stderr[-500:]}")
    return found[0]


def stage_wheels(wheelhouse: Path, extra: list[Path], target: Path) -> Path:
    """``target`` holding the wheelhouse tarball's wheels plus ``extra`` wheels."""
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    with tarfile.open(wheelhouse) as tar:
        tar.extractall(target, filter="data")
    for wheel in extra:
        shutil.copy2(wheel, target / wheel.name)
    return target


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def serve_directory(path: Path) -> Iterator[str]:
    """Serve ``path`` read-only over HTTP on 127.0.0.1 (a free port); yield its URL."""
    handler = functools.partial(_QuietHandler, directory=str(path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def inputs_digest(parts: dict[str, str]) -> str:
    """sha256 over sorted ``name value`` lines."""
    digest = hashlib.sha256()
    for key, value in sorted(parts.items()):
        digest.update(f"{key} {value}\n".encode())
    return digest.hexdigest()


def _inputs(ctx: Context, bento: OurBento, wheelhouse: Path, app: Path) -> dict[str, str]:
    standin = ctx.docker.images.get(STANDIN.tag)
    return {
        "standin": standin.id,
        "archive": file_sha256(bento.archive),
        "wheelhouse": file_sha256(wheelhouse),
        "app_wheel": file_sha256(app),
        "bentofile": BENTOFILE,
        "uv": UV_REQUIREMENT,
        "bentoml": metadata.version("bentoml"),
    }


def dockerfile_steps(text: str, width: int = 160) -> list[str]:
    """The FROM and RUN lines of a Dockerfile (cut at ``width``), to show what a build does."""
    return [
        line.strip()[:width]
        for line in text.splitlines()
        if line.strip().split(" ", 1)[0] in ("FROM", "RUN")
    ]


def _describe_build(image: Any, dockerfile: Path, **extra: Any) -> dict[str, Any]:
    text = dockerfile.read_text(encoding="utf-8") if dockerfile.is_file() else ""
    return {
        "tag": THEIRS_IMAGE,
        "id": image.id,
        "size_bytes": int(image.attrs["Size"]),
        "dockerfile_steps": dockerfile_steps(text),
        **extra,
    }


def _build_theirs(
    bento: OurBento,
    info: dict[str, Any],
    store_dir: Path,
    project: Path,
    app: Path,
    wheelhouse: Path,
    version: str,
    digest: str,
) -> float:
    """``bentoml build`` of their Bento in ``project``, then ``bentoml containerize``."""
    their_bento = f"{bento.name}:{version}"
    entry = str(info["service"]).split(":", 1)[0] + ".py"
    shutil.copy2(store_dir / "src" / entry, project / entry)
    lock_text = (store_dir / "src" / "requirements.lock").read_text(encoding="utf-8")
    (project / "requirements.txt").write_text(
        requirements_txt(lock_text, app_requirement(app)), encoding="utf-8"
    )
    wheels = stage_wheels(wheelhouse, [app, uv_wheel()], CACHE_DIR / "wheels")
    log(f"{THEIRS_IMAGE}: bentoml build + containerize (inputs {digest[:12]}); a few minutes")
    with serve_directory(wheels) as url, timer() as elapsed:
        (project / "bentofile.yaml").write_text(
            render_bentofile(str(info["service"]), bento.name, url), encoding="utf-8"
        )
        with contextlib.suppress(BenchError):  # a Bento of an interrupted run
            _bentoml(["delete", "--yes", their_bento], CACHE_DIR / "delete.log")
        _bentoml(
            ["build", "-f", "bentofile.yaml", "--version", version, "."],
            CACHE_DIR / "build.log",
            cwd=project,
        )
        _bentoml(
            [
                "containerize", their_bento, "--image-tag", THEIRS_IMAGE,
                "--network", "host", "--progress", "plain",
                "--label", f"{INPUTS_LABEL}={digest}", "--label", f"{BENCH_LABEL}=1",
            ],
            CACHE_DIR / "containerize.log",
        )  # fmt: skip
        seconds = elapsed()
    return seconds


# One build per run: a concurrent deploy may write a newer aidock wheel meanwhile.
_THIS_RUN: dict[tuple[int, str], dict[str, Any]] = {}


def ensure_theirs(ctx: Context, ours_image: str) -> dict[str, Any]:
    """``THEIRS_IMAGE`` from the Bento of ``ours_image``, checked once per run (``ctx``)."""
    key = (id(ctx), ours_image)
    if key not in _THIS_RUN:
        _THIS_RUN[key] = _ensure_theirs(ctx, ours_image)
    return _THIS_RUN[key]


def _ensure_theirs(ctx: Context, ours_image: str) -> dict[str, Any]:
    """Build (or reuse) ``THEIRS_IMAGE`` from the Bento of ``ours_image``."""
    standin = ensure_image(ctx, STANDIN)
    bento = our_bento(ctx, ours_image)
    wheelhouse = lock_wheelhouse(BENTO_LOCK, "bento")
    app = bento.app_wheel()
    digest = inputs_digest(_inputs(ctx, bento, wheelhouse, app))
    version = f"default-{digest[:12]}"
    dockerfile = BENTOML_HOME / "bentos" / bento.name / version / "env" / "docker" / "Dockerfile"
    facts = {
        "our_bento": bento.tag,
        "their_bento": f"{bento.name}:{version}",
        "archive": str(bento.archive.relative_to(ROOT)),
        "wheelhouse": wheelhouse.name,
        "app_wheel": app.name,
        "uv_requirement": UV_REQUIREMENT,
        "bentoml_version": metadata.version("bentoml"),
        "inputs_digest": digest,
        "standin": standin,
    }
    try:
        current = ctx.docker.images.get(THEIRS_IMAGE)
    except ImageNotFound:
        current = None
    if current is not None and not ctx.rebuild and current.labels.get(INPUTS_LABEL) == digest:
        log(f"{THEIRS_IMAGE}: up to date (inputs {digest[:12]}), not rebuilt")
        return _describe_build(current, dockerfile, built=False, **facts)

    store_dir = import_bento(bento)
    info = bento_info(store_dir)
    # BentoML refuses build files under a hidden directory such as .cache: use /tmp.
    with tempfile.TemporaryDirectory(prefix="aidock-bench-bento-") as tmp:
        seconds = _build_theirs(bento, info, store_dir, Path(tmp), app, wheelhouse, version, digest)
    built = ctx.docker.images.get(THEIRS_IMAGE)
    if current is not None and current.id != built.id:
        try:  # the previous build, now untagged
            ctx.docker.images.remove(current.id)
        except APIError as exc:
            log(f"could not remove the previous {THEIRS_IMAGE} ({current.id[:19]}): {exc}")
    log(f"{THEIRS_IMAGE}: built in {seconds:.0f} s")
    return _describe_build(built, dockerfile, built=True, build_seconds=round(seconds, 1), **facts)
