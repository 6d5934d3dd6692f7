"""Agent settings: a YAML or JSON file, overridden by ``AIDOCK_AGENT_*`` environment variables.

The file holds everything, including the AI catalog; the environment holds the values a
deployment changes per host (see ``ENV_FIELDS``). ``AIDOCK_AGENT_CONFIG`` names the file
when ``--config`` is not given. Secrets are never in the settings themselves, only the
paths of the files that hold them (registry password, API token).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from aidock.agent.client import TokenError, read_token
from aidock.agent.errors import ImageRefused, InvalidField, UnknownAi
from aidock.schemas import SCHEMA_VERSION_RULE, UnknownSchemaVersion, parse_version

CONFIG_ENV = "AIDOCK_AGENT_CONFIG"
ENV_FIELDS: dict[str, str] = {
    "AIDOCK_AGENT_OWNER": "owner_id",
    "AIDOCK_AGENT_REGISTRY": "registry",
    "AIDOCK_AGENT_NAMESPACE": "namespace",
    "AIDOCK_AGENT_REGISTRY_USERNAME": "registry_username",
    "AIDOCK_AGENT_REGISTRY_PASSWORD_FILE": "registry_password_file",
    "AIDOCK_AGENT_TOKEN_FILE": "token_file",
    "AIDOCK_AGENT_MAX_INSTANCES": "max_instances",
    "AIDOCK_AGENT_START_TIMEOUT": "start_timeout",
    "AIDOCK_AGENT_IDLE_TTL": "idle_ttl",
    "AIDOCK_AGENT_NETWORK": "network",
    "AIDOCK_AGENT_ENDPOINT_MODE": "endpoint_mode",
}

AI_NAME_RULE = "1-40 characters of [a-z0-9] separated by single '.', '_' or '-'"
_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
AI_NAME = re.compile(rf"^{_COMPONENT}$")
TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_NAMESPACE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_REGISTRY = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_MEMORY = re.compile(r"^[0-9]+[bkmgBKMG]?$")
_TMPFS_OPTIONS = re.compile(r"^[A-Za-z0-9=,._-]*$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Characters that would let a name or tag leave <registry>/<namespace>/<ai>:<tag>.
_ESCAPES = ("/", ":", "@", "\\", "..")


@dataclass(frozen=True)
class ImageRef:
    """``<registry>/<repository>:<tag>``."""

    registry: str
    repository: str
    tag: str

    @property
    def name(self) -> str:
        """Reference without the tag (what pulls and RepoDigests use)."""
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return f"{self.name}:{self.tag}"


class ConfigError(ValueError):
    """Invalid or unreadable settings (message names the field and the source)."""


class AiSpec(BaseModel):
    """One AI of the catalog: how to run it and how to tell it is ready."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    port: int = Field(ge=1, le=65535, description="Container port of the AI's HTTP API.")
    ready_path: str = Field(default="/readyz", description="GET answering 200 once ready.")
    start_timeout: float | None = Field(
        default=None, gt=0, le=3600, description="Seconds from start to ready (agent default)."
    )
    memory: str = Field(default="1g", description="Memory limit (swap included), e.g. 512m.")
    cpus: float = Field(default=1.0, gt=0, le=256)
    pids: int = Field(default=256, ge=16, le=65536)
    tmpfs: dict[str, str] = Field(
        default_factory=lambda: {"/tmp": "size=64m,mode=1777"},
        description="Writable tmpfs mounts {path: options}; the root filesystem is read-only.",
    )
    schema_version: str = Field(description="Schema the AI speaks, e.g. extraction/v1.")
    env: dict[str, str] = Field(default_factory=dict, description="Extra environment.")

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

    @field_validator("schema_version")
    @classmethod
    def _schema(cls, value: str) -> str:
        try:
            parse_version(value)
        except UnknownSchemaVersion:
            raise ValueError(f"must look like {SCHEMA_VERSION_RULE}") from None
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

    @field_validator("env")
    @classmethod
    def _env(cls, value: dict[str, str]) -> dict[str, str]:
        for name in value:
            if not _ENV_NAME.match(name):
                raise ValueError(f"{name!r} is not a valid environment variable name")
        return value

    @property
    def nano_cpus(self) -> int:
        """``cpus`` in the Engine API's unit."""
        return int(self.cpus * 1_000_000_000)


def _bento(schema_version: str) -> AiSpec:
    return AiSpec(
        port=3000,
        schema_version=schema_version,
        memory="1g",
        # The image keeps BENTOML_HOME and the Prometheus multiprocess dir under /tmp.
        tmpfs={"/tmp": "size=128m,mode=1777"},
    )


def default_catalog() -> dict[str, AiSpec]:
    """The AIs aidock ships: rag, and the Bento AIs extraction and categorization."""
    return {
        "rag": AiSpec(
            port=5001,
            schema_version="rag/v1",
            memory="1g",
            tmpfs={
                "/data": "uid=10001,gid=10001,mode=0700,size=256m",
                "/tmp": "size=64m,mode=1777",
            },
        ),
        "extraction": _bento("extraction/v1"),
        "categorization": _bento("categorization/v1"),
    }


class AgentConfig(BaseModel):
    """Everything the agent needs; build it with ``load``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    owner_id: str = Field(
        default="aidock-agent",
        description="Value of the ai.aidock.owner label on every container this agent starts; "
        "unique per agent (a restarted agent adopts or removes what carries it).",
    )
    registry: str = Field(default="localhost:5000", description="host[:port] of the registry.")
    namespace: str = Field(default="aidock", description="Repository namespace in it.")
    registry_username: str | None = None
    registry_password_file: Path | None = None
    token_file: Path | None = Field(default=None, description="File holding the API token.")
    max_instances: int = Field(default=4, ge=1, le=256)
    start_timeout: float = Field(default=120.0, gt=0, le=3600)
    idle_ttl: float = Field(default=900.0, ge=0, description="Seconds; 0 never reaps.")
    reap_interval: float = Field(default=15.0, gt=0, le=3600)
    network: str = Field(default="aidock-ai", description="Docker network of the AIs.")
    network_internal: bool | None = Field(
        default=None,
        description="Create the network as internal (no egress); default: true in network "
        "mode, false in loopback mode (published ports need a non-internal network).",
    )
    endpoint_mode: Literal["network", "loopback"] = "loopback"
    docker_timeout: float = Field(default=300.0, gt=0, description="Engine API call timeout.")
    stop_timeout: int = Field(default=5, ge=0, le=300, description="SIGTERM grace on stop.")
    catalog: dict[str, AiSpec] = Field(default_factory=default_catalog)

    @field_validator("owner_id")
    @classmethod
    def _owner(cls, value: str) -> str:
        if not _OWNER.match(value):
            raise ValueError("must be 1-63 characters of [A-Za-z0-9_.-], starting alphanumeric")
        return value

    @field_validator("registry")
    @classmethod
    def _registry(cls, value: str) -> str:
        if not _REGISTRY.match(value):
            raise ValueError("must be a lowercase host[:port] without scheme or path")
        return value

    @field_validator("namespace")
    @classmethod
    def _namespace(cls, value: str) -> str:
        if not _NAMESPACE.match(value):
            raise ValueError("must be '/'-separated components of [a-z0-9._-]")
        return value

    @field_validator("network")
    @classmethod
    def _network(cls, value: str) -> str:
        if not _NETWORK.match(value) or value in {"bridge", "host", "none"}:
            raise ValueError("must be a user-defined network name (not bridge, host or none)")
        return value

    @field_validator("catalog")
    @classmethod
    def _catalog(cls, value: dict[str, AiSpec]) -> dict[str, AiSpec]:
        for name in value:
            if len(name) > 40 or not AI_NAME.match(name):
                raise ValueError(f"AI name {name!r} must be {AI_NAME_RULE}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> AgentConfig:
        if self.endpoint_mode == "loopback" and self.network_internal:
            raise ValueError(
                "network_internal: an internal network cannot publish ports; "
                "loopback mode needs network_internal false"
            )
        if self.registry_username and self.registry_password_file is None:
            raise ValueError("registry_password_file: required with registry_username")
        return self

    @property
    def internal_network(self) -> bool:
        """Whether a network this agent creates is internal."""
        if self.network_internal is None:
            return self.endpoint_mode == "network"
        return self.network_internal

    def spec(self, ai: str) -> AiSpec | None:
        """The catalog entry of ``ai``."""
        return self.catalog.get(ai)

    def start_timeout_of(self, ai: str) -> float:
        """The AI's own start timeout, else the agent default."""
        spec = self.catalog[ai]
        return spec.start_timeout if spec.start_timeout is not None else self.start_timeout

    def registry_auth(self) -> dict[str, str] | None:
        """Credentials for pulls (None: dockerd's client config of this user applies)."""
        if not self.registry_username or self.registry_password_file is None:
            return None
        password = _read_secret(self.registry_password_file, "registry_password_file")
        return {"username": self.registry_username, "password": password}

    def api_token(self) -> str:
        """The bearer token clients must send (``token_file``)."""
        if self.token_file is None:
            raise ConfigError(
                "token_file: not set (AIDOCK_AGENT_TOKEN_FILE or token_file in the config)"
            )
        try:
            return read_token(self.token_file)
        except TokenError as exc:
            raise ConfigError(str(exc)) from exc

    def image_for(self, ai: str, version: str) -> ImageRef:
        """The image of ``ai`` at ``version``, always inside ``<registry>/<namespace>/``.

        Raises ``ImageRefused`` (403) when a value would leave the registry/namespace
        ('/', ':', '@', backslash, '..', whitespace), ``UnknownAi`` (404) when ``ai`` is not
        in the catalog and ``InvalidField`` (422) for a tag Docker would not accept.
        """
        for field, value in (("ai", ai), ("version", version)):
            if (
                any(bad in value for bad in _ESCAPES)
                or not value.isprintable()
                or any(c.isspace() for c in value)
            ):
                raise ImageRefused(
                    f"{field}: {value!r} would name an image outside "
                    f"{self.registry}/{self.namespace}/ (no '/', ':', '@', '..' or whitespace)",
                    field,
                )
        if ai not in self.catalog:
            known = ", ".join(sorted(self.catalog)) or "none"
            raise UnknownAi(f"ai: unknown AI {ai!r}; the catalog has: {known}", "ai")
        if not TAG.match(version):
            raise InvalidField(
                f"version: {version!r} is not a valid tag ([A-Za-z0-9_.-], at most 128)", "version"
            )
        ref = ImageRef(self.registry, f"{self.namespace}/{ai}", version)
        if not str(ref).startswith(f"{self.registry}/{self.namespace}/"):  # defence in depth
            raise ImageRefused(f"ai: {ref} is outside {self.registry}/{self.namespace}/", "ai")
        return ref

    @classmethod
    def load(
        cls, path: Path | str | None = None, env: Mapping[str, str] | None = None
    ) -> AgentConfig:
        """Settings from ``path`` (or ``$AIDOCK_AGENT_CONFIG``), then the environment."""
        env = os.environ if env is None else env
        source = str(path) if path else env.get(CONFIG_ENV, "").strip()
        values: dict[str, Any] = read_file(Path(source)) if source else {}
        for var, field in ENV_FIELDS.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = raw
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            where = f"{source} and the environment" if source else "the environment"
            raise ConfigError(f"invalid agent settings from {where}: {describe(exc)}") from exc


def describe(exc: ValidationError) -> str:
    """First validation error as ``field.path: message``."""
    first = exc.errors()[0]
    loc = ".".join(str(part) for part in first["loc"])
    return f"{loc}: {first['msg']}" if loc else str(first["msg"])


def read_file(path: Path) -> dict[str, Any]:
    """A YAML (``.yaml``/``.yml``) or JSON settings file as a mapping."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the agent config {path}: {exc.strerror or exc}") from exc
    if path.suffix.lower() in {".yaml", ".yml"}:
        try:
            import yaml
        except ImportError as exc:
            raise ConfigError(f"{path}: YAML needs PyYAML; use a .json file instead") from exc
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise ConfigError(f"{path} is not valid YAML: {exc}") from exc
    else:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ConfigError(f"{path} is not valid JSON: {exc}") from exc
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path} must hold a mapping of settings")
    return data


def _read_secret(path: Path, field: str) -> str:
    try:
        value = path.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise ConfigError(f"{field}: cannot read {path}: {exc.strerror or exc}") from exc
    if not value:
        raise ConfigError(f"{field}: {path} is empty")
    return value
