"""The AI manifest: the run contract every AI image carries as labels (label set v1).

An image is an AI the agent can run when its config holds these labels (Dockerfile
``LABEL`` instructions or ``docker build --label``). ``docs/ai-manifest.md`` is the
reference for image authors; this module is the one parser of it (the agent reads the
labels from the registry, or from a container it adopts, and builds ``AiManifest``).

=============================  ========  =================================================
label                          required  meaning
=============================  ========  =================================================
``ai.aidock.manifest``         yes       version of this label set: ``v1``
``ai.aidock.schema-version``   yes       API the AI speaks, ``<type>/v<major>``
``ai.aidock.port``             yes       container port of its HTTP API (1-65535)
``ai.aidock.ready-path``       yes       ``GET`` path answering 200 once it is ready
``ai.aidock.memory``           yes       memory limit, swap included (``512m``, ``1g``)
``ai.aidock.cpus``             yes       CPU limit (``0.5``, ``1``, ``2``)
``ai.aidock.pids``             yes       process/thread limit (16-65536)
``ai.aidock.tmpfs``            no        writable tmpfs mounts, space-separated
                                         ``path:options`` (Docker's ``--tmpfs`` syntax);
                                         default ``/tmp:size=64m,mode=1777``
``ai.aidock.start-timeout``    no        seconds from start to ready; default: the agent's
=============================  ========  =================================================

Whatever the labels say, the agent still enforces its hardening (uid 10001, read-only
root, no capabilities, no-new-privileges); the labels only size the limits and tell it
where to knock. Errors name the label (``ManifestError.label``) so that an image author
knows what to fix.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

MANIFEST_VERSION = "v1"
PREFIX = "ai.aidock."
LABEL_MANIFEST = "ai.aidock.manifest"
LABEL_SCHEMA = "ai.aidock.schema-version"
DEFAULT_TMPFS = "/tmp:size=64m,mode=1777"

# Field name -> label key (the order is the documented one).
LABELS: dict[str, str] = {
    "schema_version": LABEL_SCHEMA,
    "port": "ai.aidock.port",
    "ready_path": "ai.aidock.ready-path",
    "memory": "ai.aidock.memory",
    "cpus": "ai.aidock.cpus",
    "pids": "ai.aidock.pids",
    "tmpfs": "ai.aidock.tmpfs",
    "start_timeout": "ai.aidock.start-timeout",
}
OPTIONAL = frozenset({"tmpfs", "start_timeout"})

_SCHEMA = re.compile(r"^[a-z][a-z0-9_-]*/v[1-9][0-9]*$")
_MEMORY = re.compile(r"^[1-9][0-9]*[bkmgBKMG]?$")
_TMPFS_OPTIONS = re.compile(r"^[A-Za-z0-9=,._-]*$")


class ManifestError(ValueError):
    """Labels that do not make a usable v1 manifest; ``label`` names the culprit."""

    def __init__(self, label: str, message: str) -> None:
        super().__init__(f"label {label}: {message}")
        self.label = label
        self.message = message


class AiManifest(BaseModel):
    """How to run an AI and how to tell it is ready (parsed from its labels)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    schema_version: str = Field(description="Schema the AI speaks, e.g. extraction/v1.")
    port: int = Field(ge=1, le=65535, description="Container port of the AI's HTTP API.")
    ready_path: str = Field(default="/readyz", description="GET answering 200 once ready.")
    memory: str = Field(default="1g", description="Memory limit (swap included), e.g. 512m.")
    cpus: float = Field(default=1.0, gt=0, le=256, description="CPU limit.")
    pids: int = Field(default=256, ge=16, le=65536, description="Process/thread limit.")
    tmpfs: dict[str, str] = Field(
        default_factory=lambda: parse_tmpfs(DEFAULT_TMPFS),
        description="Writable tmpfs mounts {path: options}; the root filesystem is read-only.",
    )
    start_timeout: float | None = Field(
        default=None, gt=0, le=3600, description="Seconds from start to ready (agent default)."
    )

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, value: str) -> str:
        if not _SCHEMA.match(value):
            raise ValueError("must look like '<type>/v<major>', e.g. 'extraction/v1'")
        return value

    @field_validator("ready_path")
    @classmethod
    def _path(cls, value: str) -> str:
        if not value.startswith("/") or any(c.isspace() for c in value):
            raise ValueError("must start with '/' and contain no whitespace")
        return value

    @field_validator("memory")
    @classmethod
    def _memory(cls, value: str) -> str:
        if not _MEMORY.match(value):
            raise ValueError("must be a number with an optional unit b, k, m or g")
        return value

    @field_validator("tmpfs")
    @classmethod
    def _tmpfs(cls, value: dict[str, str]) -> dict[str, str]:
        for path, options in value.items():
            if not path.startswith("/") or ".." in path.split("/") or path == "/":
                raise ValueError(f"{path!r} must be an absolute path below /")
            if not _TMPFS_OPTIONS.match(options):
                raise ValueError(f"options of {path!r} may only hold [A-Za-z0-9=,._-]")
        return value

    @property
    def nano_cpus(self) -> int:
        """``cpus`` in the Engine API's unit."""
        return int(self.cpus * 1_000_000_000)

    @classmethod
    def from_labels(cls, labels: Mapping[str, str] | None) -> AiManifest:
        """The manifest in ``labels``; ``ManifestError`` names the missing or bad label."""
        labels = labels or {}
        version = labels.get(LABEL_MANIFEST)
        if version is None:
            raise ManifestError(LABEL_MANIFEST, "missing: the image carries no AI manifest")
        if version.strip() != MANIFEST_VERSION:
            raise ManifestError(
                LABEL_MANIFEST, f"{version!r} is not a known version (this agent reads v1)"
            )
        values: dict[str, Any] = {}
        for field, label in LABELS.items():
            raw = labels.get(label)
            if raw is None or not raw.strip():
                if field in OPTIONAL:
                    continue
                raise ManifestError(label, "missing")
            if field == "tmpfs":
                try:
                    values[field] = parse_tmpfs(raw)
                except ValueError as exc:
                    raise ManifestError(label, str(exc)) from exc
            else:
                values[field] = raw.strip()
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = str(first["loc"][0]) if first["loc"] else ""
            label = LABELS.get(field, LABEL_MANIFEST)
            raise ManifestError(label, f"{labels.get(label)!r}: {first['msg']}") from exc

    def to_labels(self) -> dict[str, str]:
        """The labels that declare this manifest (what a build writes)."""
        labels = {LABEL_MANIFEST: MANIFEST_VERSION}
        for field, label in LABELS.items():
            value = getattr(self, field)
            if value is None:
                continue
            if field == "tmpfs":
                labels[label] = format_tmpfs(value)
            elif isinstance(value, float):
                labels[label] = f"{value:g}"
            else:
                labels[label] = str(value)
        return labels


def parse_tmpfs(text: str) -> dict[str, str]:
    """``"/a:opts /b:opts"`` (Docker's ``--tmpfs`` values, space-separated) as a mapping."""
    mounts: dict[str, str] = {}
    for item in text.split():
        path, _, options = item.partition(":")
        if not path:
            raise ValueError(f"{item!r} is not 'path:options'")
        if path in mounts:
            raise ValueError(f"{path} is mounted twice")
        mounts[path] = options
    return mounts


def format_tmpfs(mounts: Mapping[str, str]) -> str:
    """The inverse of ``parse_tmpfs``."""
    return " ".join(f"{path}:{options}" if options else path for path, options in mounts.items())
