"""Build a Bento of a trained AI, offline, and optionally export it as a ``.bento`` archive.

``save_bento(ai)`` stores the AI's artifact (written by its own ``save``) as a BentoML
model, writes a small entry module pinning that model and its SHA-256, and builds the
Bento with our hashed lock file (``images/bento/requirements.lock``, never re-locked:
``lock_packages`` is off, so nothing reaches an index) and our hardened Dockerfile as
``docker.dockerfile_template``. BentoML renders that template verbatim into the Bento's
``env/docker/Dockerfile`` (a template without Jinja syntax is a plain Dockerfile); the
image is then built by our own pipeline, never by ``bentoml containerize``.

Labels on the Bento (``ai.aidock.*``) carry what validation and the image build need:
schema version, model digest and file, AI name and version, lock and Dockerfile digests.
Set ``BENTOML_HOME`` to choose the BentoML store (default ``~/bentoml``).
"""

from __future__ import annotations

import contextlib
import logging
import os
import platform
import re
import shutil
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import bentoml
from bentoml.exceptions import NotFound
from packaging.utils import canonicalize_name

from aidock.ais.base import AI, file_sha256
from aidock.bento.archive import (
    ENTRY_MODULE,
    LABELS,
    LOCK_NAME,
    MODEL_FILE,
    lock_pins,
)
from aidock.bento.service import SERVICE_BASES
from aidock.schemas.bento import resolve

IMAGE_DIR_ENV = "AIDOCK_BENTO_IMAGE_DIR"
DOCKERFILE_TEMPLATE = "Dockerfile.template"
ARCHIVE_SUFFIX = ".bento"
# Packages whose version must match between the pickling and the unpickling environment.
PICKLE_PINNED = ("scikit-learn",)

ENTRY_TEMPLATE = '''\
"""Entry point of this Bento, written by aidock save_bento: serves one pinned model."""

import bentoml

from aidock.bento.service import {base}, BentoIdentity, finish, service_options

IDENTITY = BentoIdentity(
    name={name!r},
    version={version!r},
    schema_version={schema_version!r},
    model_sha256={model_sha256!r},
    model_tag={model_tag!r},
    bento_tag={bento_tag!r},
    aidock_version={aidock_version!r},
)


@bentoml.service(**service_options(IDENTITY))
class {cls}({base}):
    identity = IDENTITY
    model_ref = bentoml.models.BentoModel(IDENTITY.model_tag)


finish({cls})
'''


class BentoBuildError(RuntimeError):
    """The Bento cannot be built from these inputs."""


@dataclass(frozen=True)
class BentoBuild:
    """What ``save_bento`` produced."""

    tag: str
    model_tag: str
    model_sha256: str
    schema_version: str
    archive: Path | None = None


def default_image_dir() -> Path:
    """``$AIDOCK_BENTO_IMAGE_DIR`` or ``images/bento`` of the source checkout."""
    if env := os.environ.get(IMAGE_DIR_ENV):
        return Path(env)
    return Path(__file__).resolve().parents[3] / "images" / "bento"


def entry_class(ai_name: str) -> str:
    """Class name of the service in the entry module: ``extraction`` -> ``Extraction``."""
    return "".join(part.capitalize() for part in re.split(r"[-_]", ai_name))


def aidock_version() -> str:
    try:
        return metadata.version("aidock")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def check_pickle_versions(pins: dict[str, str]) -> None:
    """Fail unless the packages the model is pickled with match the lock file's pins."""
    for package in PICKLE_PINNED:
        pinned = pins.get(canonicalize_name(package))
        if pinned is None:
            raise BentoBuildError(f"the lock file does not pin {package}")
        installed = metadata.version(package)
        if installed != pinned:
            raise BentoBuildError(
                f"{package} {installed} is installed but the lock file pins {pinned}: the "
                f"model would not unpickle in the image; train under {package}=={pinned}"
            )


def _labels(ai: AI, sha256: str, model_tag: str, lock: Path, dockerfile: Path) -> dict[str, str]:
    name, version = model_tag.split(":")
    return {
        LABELS["schema_version"]: ai.schema_version,
        LABELS["model_sha256"]: sha256,
        LABELS["model_file"]: f"models/{name}/{version}/{MODEL_FILE}",
        LABELS["ai_name"]: ai.name,
        LABELS["ai_version"]: ai.version,
        LABELS["aidock_version"]: aidock_version(),
        LABELS["python_version"]: platform.python_version(),
        LABELS["lock_sha256"]: file_sha256(lock),
        LABELS["dockerfile_sha256"]: file_sha256(dockerfile),
    }


def _store_model(ai: AI, workdir: Path) -> tuple[str, str]:
    """Save the artifact into the BentoML model store; return (model tag, sha256)."""
    artifact = workdir / MODEL_FILE
    sha256 = ai.save(artifact)
    tag = f"{ai.name}:{sha256[:20]}"  # same artifact, same model: stored once
    try:
        existing = bentoml.models.get(tag)
    except NotFound:
        existing = None
    if existing is not None:
        if file_sha256(existing.path_of(MODEL_FILE)) != sha256:
            raise BentoBuildError(f"model {tag} in the BentoML store does not match its digest")
        return tag, sha256
    meta = {"sha256": sha256, "schema_version": ai.schema_version, **ai.describe()}
    with bentoml.models.create(
        tag,
        labels={LABELS["schema_version"]: ai.schema_version, LABELS["model_sha256"]: sha256},
        metadata={k: v for k, v in meta.items() if isinstance(v, str | int | float | bool)},
    ) as model:
        shutil.copyfile(artifact, model.path_of(MODEL_FILE))
    return tag, sha256


def _write_context(
    ctx: Path, ai: AI, identity: dict[str, str], lock: Path, dockerfile: Path
) -> None:
    base = SERVICE_BASES[ai.name].__name__
    cls = entry_class(ai.name)
    (ctx / f"{ENTRY_MODULE}.py").write_text(
        ENTRY_TEMPLATE.format(base=base, cls=cls, **identity), encoding="utf-8"
    )
    shutil.copyfile(lock, ctx / LOCK_NAME)
    shutil.copyfile(dockerfile, ctx / DOCKERFILE_TEMPLATE)
    (ctx / "README.md").write_text(
        f"# aidock {ai.name} AI\n\n"
        f"Schema `{ai.schema_version}`, model `{identity['model_tag']}` "
        f"(sha256 `{identity['model_sha256']}`).\n\n"
        f'`POST {SERVICE_BASES[ai.name].api_route}` with `{{"text": "..."}}`; '
        "`GET /info`; `/readyz`, `/livez`, `/metrics`; Swagger UI on `/`.\n",
        encoding="utf-8",
    )


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _build(ctx: Path, name: str, version: str, labels: dict[str, str]) -> Any:
    """``bentoml.bentos.build`` of the context written by ``_write_context``."""
    sys.modules.pop(ENTRY_MODULE, None)  # the entry of an earlier build may be cached
    try:
        # BentoML reads build files only below the cwd; its warning that a Dockerfile
        # template makes a "v1" Bento is expected here.
        with contextlib.chdir(ctx), _quiet("bentoml.build"):
            return bentoml.bentos.build(
                f"{ENTRY_MODULE}:{entry_class(name)}",
                name=name,
                version=version,
                labels=labels,
                description=(ctx / "README.md").read_text(encoding="utf-8"),
                include=[f"{ENTRY_MODULE}.py", LOCK_NAME],
                # Our lock is already resolved and hashed: never re-lock (that reaches PyPI).
                python={"requirements_txt": LOCK_NAME, "lock_packages": False},
                docker={"dockerfile_template": DOCKERFILE_TEMPLATE},
                build_ctx=str(ctx),
            )
    finally:
        sys.modules.pop(ENTRY_MODULE, None)


def archive_target(output_dir: str | Path) -> Path:
    """Absolute path ``save_bento`` exports to: the ``.bento`` file itself, or its directory.

    A path ending in ``.bento`` names the archive; any other path is the directory it goes
    into. Raises ``BentoBuildError`` when a path ending in ``.bento`` is an existing directory.
    """
    target = Path(output_dir).resolve()  # BentoML's exporter mistakes relative paths
    if target.suffix == ARCHIVE_SUFFIX and target.is_dir():
        raise BentoBuildError(
            f"{target} is a directory: name the archive file (x.bento) or a directory "
            "whose name does not end in .bento"
        )
    return target


def save_bento(
    ai: AI,
    output_dir: str | Path | None = None,
    *,
    lockfile: str | Path | None = None,
    dockerfile: str | Path | None = None,
) -> BentoBuild:
    """Build a Bento of ``ai`` in the local BentoML store; export it to ``output_dir``.

    ``output_dir`` ending in ``.bento`` is the archive itself (its parent directories are
    created); any other path is a directory that gets ``<name>-<version>.bento``.
    ``lockfile`` and ``dockerfile`` default to ``requirements.lock`` and ``Dockerfile`` of
    :func:`default_image_dir`. BentoML builds from the current directory, so the build
    briefly changes it: do not build from several threads at once.
    """
    ai._require_trained()
    resolve(ai.schema_version)
    if ai.name not in SERVICE_BASES:
        raise BentoBuildError(f"no BentoML service for AI {ai.name!r}")
    image_dir = default_image_dir()
    lock = Path(lockfile) if lockfile else image_dir / LOCK_NAME
    docker = Path(dockerfile) if dockerfile else image_dir / "Dockerfile"
    for path, what in ((lock, "lock file"), (docker, "Dockerfile")):
        if not path.is_file():
            raise BentoBuildError(f"{what} {path} not found (set ${IMAGE_DIR_ENV})")
    check_pickle_versions(lock_pins(lock.read_text(encoding="utf-8")))
    archive_path = None if output_dir is None else archive_target(output_dir)

    bento_tag = bentoml.Tag(ai.name).make_new_version()
    with tempfile.TemporaryDirectory(prefix="aidock-bento-") as tmp:
        workdir, ctx = Path(tmp) / "model", Path(tmp) / "ctx"
        workdir.mkdir()
        ctx.mkdir()
        model_tag, sha256 = _store_model(ai, workdir)
        identity = {
            "name": ai.name,
            "version": ai.version,
            "schema_version": ai.schema_version,
            "model_sha256": sha256,
            "model_tag": model_tag,
            "bento_tag": str(bento_tag),
            "aidock_version": aidock_version(),
        }
        _write_context(ctx, ai, identity, lock, docker)
        labels = _labels(ai, sha256, model_tag, lock, docker)
        bento = _build(ctx, ai.name, bento_tag.version, labels)
    archive = None
    if archive_path is not None:
        if archive_path.suffix != ARCHIVE_SUFFIX:
            archive_path.mkdir(parents=True, exist_ok=True)
            archive_path /= f"{bento.tag.name}-{bento.tag.version}{ARCHIVE_SUFFIX}"
        archive_path.parent.mkdir(parents=True, exist_ok=True)
        archive = Path(bentoml.bentos.export_bento(bento.tag, str(archive_path)))
    return BentoBuild(str(bento.tag), model_tag, sha256, ai.schema_version, archive)
