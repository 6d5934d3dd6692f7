"""Validate a ``.bento`` archive before anything is built from it, and unpack it safely.

A valid archive: is a readable tar whose members are plain files and directories inside
the archive; has a ``bento.yaml`` whose ``ai.aidock.schema-version`` label is a known
schema version; holds the model file named by its labels with the SHA-256 they declare;
carries our hashed lock file and a Dockerfile; every pinned ``name==version`` of the lock
has a wheel in the wheelhouse (a directory or the tarball the image build adds, when one is
given); and the AI name it is deployed under (its own name unless renamed) is a valid AI
name that clashes with no existing AI. Every failure raises ``ArchiveError`` naming what is
wrong. Needs PyYAML and packaging (lock and wheel names), not BentoML.
"""

from __future__ import annotations

import hashlib
import lzma
import os
import re
import shutil
import tarfile
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from aidock.digests import file_sha256
from aidock.schemas import UnknownSchemaVersion
from aidock.schemas.bento import resolve

ENTRY_MODULE = "aidock_service"
LOCK_NAME = "requirements.lock"
MODEL_FILE = "model.joblib"
LOCK_MEMBER = f"src/{LOCK_NAME}"
DOCKERFILE_MEMBER = "env/docker/Dockerfile.template"  # ours, byte for byte
MAX_UNPACKED_BYTES = 8 << 30
LABELS = {
    "schema_version": "ai.aidock.schema-version",
    "model_sha256": "ai.aidock.model-sha256",
    "model_file": "ai.aidock.model-file",
    "ai_name": "ai.aidock.ai-name",
    "ai_version": "ai.aidock.ai-version",
    "aidock_version": "ai.aidock.aidock-version",
    "python_version": "ai.aidock.python-version",
    "lock_sha256": "ai.aidock.lock-sha256",
    "dockerfile_sha256": "ai.aidock.dockerfile-sha256",
}
_COMMENT = re.compile(r"(?:^|\s)#.*")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
# What an AI name may be: it names the image, the compose project and its directory.
AI_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class ArchiveError(ValueError):
    """The archive is unusable; the message says why."""


@dataclass(frozen=True)
class ArchiveReport:
    """What a valid archive holds."""

    path: Path
    name: str
    version: str
    schema_version: str
    model_member: str
    model_sha256: str
    ai_version: str
    pins: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)
    deploy_as: str = ""

    @property
    def tag(self) -> str:
        return f"{self.name}:{self.version}"

    @property
    def ai_name(self) -> str:
        """The name the AI is deployed under: ``deploy_as``, else the Bento's name."""
        return self.deploy_as or self.name

    @property
    def image_tag(self) -> str:
        """Default image tag: ``<AI version>-<Bento version>``, e.g. ``0.1.0-abc123``."""
        return f"{self.ai_version or '0'}-{self.version}"

    def summary(self) -> dict[str, Any]:
        return {
            "archive": str(self.path),
            "bento": self.tag,
            "name": self.name,
            "ai_name": self.ai_name,
            "image_tag": self.image_tag,
            "ai_version": self.ai_version,
            "schema_version": self.schema_version,
            "model": self.model_member,
            "model_sha256": self.model_sha256,
            "locked_packages": len(self.pins),
        }


def lock_pins(text: str) -> dict[str, str]:
    """``{canonical name: version}`` of every ``name==version`` requirement of a lock file.

    Comments, option lines (``--hash=...``) and line continuations are skipped; extras and
    markers are allowed; the version is kept as the lock writes it.
    """
    pins: dict[str, str] = {}
    for line in text.splitlines():
        spec = _COMMENT.sub("", line).strip().removesuffix("\\").split(" --", 1)[0].strip()
        if not spec or spec.startswith("-"):
            continue
        try:
            requirement = Requirement(spec)
        except InvalidRequirement:
            continue
        pinned = [s.version for s in requirement.specifier if s.operator == "=="]
        if len(pinned) == 1:
            pins[canonicalize_name(requirement.name)] = pinned[0]
    return pins


def _wheel_names(wheelhouse: Path) -> list[str]:
    if wheelhouse.is_dir():
        return [wheel.name for wheel in wheelhouse.glob("*.whl")]
    try:
        with tarfile.open(wheelhouse, "r:*") as tar:
            return [PurePosixPath(m.name).name for m in tar.getmembers() if m.isfile()]
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        raise ArchiveError(f"wheelhouse {wheelhouse} is not a readable tar ({exc})") from None


def wheel_index(wheelhouse: Path) -> set[tuple[str, str]]:
    """``(canonical name, canonical version)`` of every wheel in a directory or a tarball of
    wheels (other files are skipped)."""
    found: set[tuple[str, str]] = set()
    for name in _wheel_names(wheelhouse):
        try:
            dist, version, _, _ = parse_wheel_filename(name)
        except InvalidWheelFilename:
            continue
        found.add((dist, canonicalize_version(version)))
    return found


def missing_wheels(pins: dict[str, str], wheelhouse: Path) -> list[str]:
    """The pins (from ``lock_pins``) without a wheel of that version in ``wheelhouse``."""
    have = wheel_index(wheelhouse)
    return sorted(f"{n}=={v}" for n, v in pins.items() if (n, canonicalize_version(v)) not in have)


def _member_name(member: tarfile.TarInfo) -> str:
    return PurePosixPath(member.name).as_posix().removeprefix("./")


def _check_members(members: Iterable[tarfile.TarInfo]) -> dict[str, tarfile.TarInfo]:
    files: dict[str, tarfile.TarInfo] = {}
    total = 0
    for member in members:
        name = _member_name(member)
        if name in ("", "."):
            continue
        path = PurePosixPath(name)
        if path.is_absolute() or ".." in path.parts:
            raise ArchiveError(f"member {member.name!r} points outside the archive")
        if not (member.isfile() or member.isdir()):
            raise ArchiveError(f"member {member.name!r} is a link or device, not a file")
        total += member.size
        if total > MAX_UNPACKED_BYTES:
            raise ArchiveError(f"unpacks to more than {MAX_UNPACKED_BYTES} bytes")
        if member.isfile():
            files[name] = member
    return files


class _Archive:
    """An open archive with checked members, read in one pass.

    Each accepted file is hashed, and the few small ones read later are kept, while the
    members are listed: a compressed tar seeks back only by decompressing again from its
    start, so reading members after listing them made each check a new pass over an xz Bento
    (0.45 s of a 1 s validation).
    """

    _KEPT = frozenset({"bento.yaml", LOCK_MEMBER, DOCKERFILE_MEMBER})

    def __init__(self, tar: tarfile.TarFile) -> None:
        self._digests: dict[str, str] = {}
        self._kept: dict[str, bytes] = {}
        self.files = _check_members(self._read_as_listed(tar))

    def _read_as_listed(self, tar: tarfile.TarFile) -> Iterator[tarfile.TarInfo]:
        # _check_members asks for the next member only once it accepted this one: its checks
        # (paths, links, total size) come before any byte of the member is read.
        for member in tar:
            yield member
            if not member.isfile():
                continue
            stream = tar.extractfile(member)
            assert stream is not None
            name = _member_name(member)
            if name in self._KEPT:
                data = stream.read()
                self._kept[name] = data
                self._digests[name] = hashlib.sha256(data).hexdigest()
            else:
                self._digests[name] = file_sha256(stream)

    def read(self, name: str, what: str) -> bytes:
        if name not in self._kept:
            raise ArchiveError(f"missing {what} ({name})")
        return self._kept[name]

    def sha256(self, name: str, what: str) -> str:
        if name not in self._digests:
            raise ArchiveError(f"missing {what} ({name})")
        return self._digests[name]


def _open(path: Path) -> tarfile.TarFile:
    if not path.is_file():
        raise ArchiveError(f"{path}: no such file")
    try:
        return tarfile.open(path, "r:*")
    except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
        raise ArchiveError(f"{path}: not a readable tar archive ({exc})") from None


def _bento_info(archive: _Archive) -> tuple[dict[str, Any], dict[str, str]]:
    try:
        info = yaml.safe_load(archive.read("bento.yaml", "bento.yaml"))
    except yaml.YAMLError as exc:
        raise ArchiveError(f"bento.yaml is not valid YAML: {exc}") from None
    if not isinstance(info, dict) or not info.get("name") or not info.get("version"):
        raise ArchiveError("bento.yaml has no name and version")
    labels = info.get("labels") or {}
    if not isinstance(labels, dict):
        raise ArchiveError("bento.yaml labels are not a mapping")
    return info, {str(k): str(v) for k, v in labels.items()}


def _label(labels: dict[str, str], key: str) -> str:
    value = labels.get(LABELS[key])
    if not value:
        raise ArchiveError(f"bento.yaml has no label {LABELS[key]}")
    return value


def _check_model(archive: _Archive, labels: dict[str, str]) -> tuple[str, str]:
    member = _label(labels, "model_file")
    declared = _label(labels, "model_sha256").lower()
    if not _SHA256.match(declared):
        raise ArchiveError(f"label {LABELS['model_sha256']} is not a SHA-256: {declared!r}")
    parts = PurePosixPath(member).parts
    if len(parts) != 4 or parts[0] != "models" or parts[3] != MODEL_FILE:
        raise ArchiveError(f"model file {member!r} is not models/<name>/<version>/{MODEL_FILE}")
    actual = archive.sha256(member, "model file")
    if actual != declared:
        raise ArchiveError(
            f"model file {member}: sha256 {actual} does not match the declared {declared}"
        )
    return member, declared


def _check_digest(
    archive: _Archive, labels: dict[str, str], member: str, what: str, label: str
) -> None:
    declared = _label(labels, label).lower()
    actual = archive.sha256(member, what)
    if actual != declared:
        raise ArchiveError(
            f"{what} {member}: sha256 {actual} does not match the declared {declared}"
        )


def validate_archive(
    path: str | Path,
    *,
    wheelhouse: str | Path | None = None,
    existing: Iterable[str] = (),
    deploy_as: str | None = None,
) -> ArchiveReport:
    """Check ``path`` as described in the module docstring; return what it holds.

    ``deploy_as`` renames the AI (image, compose project); the clash check uses that name.
    """
    path = Path(path)
    if deploy_as is not None and not AI_NAME.match(deploy_as):
        raise ArchiveError(
            f"AI name {deploy_as!r} is not valid (1 to 63 lower case letters, digits and '-', "
            "starting with a letter or digit)"
        )
    with _open(path) as tar:
        try:
            archive = _Archive(tar)
            info, labels = _bento_info(archive)
            schema_version = _label(labels, "schema_version")
            try:
                resolve(schema_version)
            except UnknownSchemaVersion as exc:
                raise ArchiveError(f"schema version: {exc}") from None
            model_member, sha256 = _check_model(archive, labels)
            lock_text = archive.read(LOCK_MEMBER, "lock file").decode("utf-8", "replace")
            _check_digest(archive, labels, DOCKERFILE_MEMBER, "Dockerfile", "dockerfile_sha256")
            _check_digest(archive, labels, LOCK_MEMBER, "lock file", "lock_sha256")
        except (tarfile.TarError, lzma.LZMAError, EOFError, OSError) as exc:
            raise ArchiveError(f"{path}: damaged tar archive ({exc})") from None
    pins = lock_pins(lock_text)
    if not pins:
        raise ArchiveError(f"{LOCK_MEMBER} pins no package (expected name==version lines)")
    if "--hash=sha256:" not in lock_text:
        raise ArchiveError(f"{LOCK_MEMBER} has no hashes (compile it with --generate-hashes)")
    if wheelhouse is not None:
        wheels = Path(wheelhouse)
        if not wheels.exists():
            raise ArchiveError(f"wheelhouse {wheels} does not exist")
        missing = missing_wheels(pins, wheels)
        if missing:
            raise ArchiveError(
                f"wheelhouse {wheels} lacks {len(missing)} locked wheel(s): {', '.join(missing)}"
            )
    name = str(info["name"])
    ai_name = deploy_as or name
    if not AI_NAME.match(ai_name):
        raise ArchiveError(
            f"Bento name {name!r} is not a valid AI name (lower case letters, digits and '-'): "
            "deploy it under another name (--name; bento_ai_name of playbooks/import_bento.yml)"
        )
    clashes = {n.lower() for n in existing}
    if ai_name.lower() in clashes:
        renamed = f" (Bento {name!r})" if deploy_as else ""
        raise ArchiveError(
            f"service name {ai_name!r}{renamed} clashes with an existing AI of that name: "
            "deploy it under another name (--name; bento_ai_name of playbooks/import_bento.yml)"
        )
    return ArchiveReport(
        path=path,
        name=name,
        version=str(info["version"]),
        schema_version=schema_version,
        model_member=model_member,
        model_sha256=sha256,
        ai_version=labels.get(LABELS["ai_version"], ""),
        pins=pins,
        labels=labels,
        deploy_as=deploy_as or "",
    )


def unpack_archive(path: str | Path, dest: str | Path) -> Path:
    """Extract a validated archive into the new directory ``dest`` (all or nothing)."""
    path, dest = Path(path), Path(dest)
    if dest.exists():
        raise ArchiveError(f"{dest} already exists")
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", dir=dest.parent))
    try:
        with _open(path) as tar:
            members = [m for m in tar.getmembers() if _member_name(m) not in ("", ".")]
            _check_members(members)
            if hasattr(tarfile, "data_filter"):  # Python >= 3.11.4 (and backports)
                tar.extractall(staging, members=members, filter="data")
            else:  # members were checked: plain files and directories inside the archive
                tar.extractall(staging, members=members)
        staging.chmod(0o755)  # mkdtemp made it 0700
        os.replace(staging, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return dest
