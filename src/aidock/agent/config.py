"""Agent settings: a YAML or JSON file, overridden by ``AIDOCK_AGENT_*`` environment variables.

``AgentConfig`` is a pydantic-settings ``BaseSettings``: each setting also has a variable,
``AIDOCK_AGENT_<NAME>`` (``owner_id``: ``AIDOCK_AGENT_OWNER``), and a variable wins over the
file (and over arguments). A deployment puts in the environment what it changes per host.
``AIDOCK_AGENT_CONFIG`` names the file when ``--config`` is not given. Secrets are never in
the settings themselves, only the paths of the files that hold them (registry password, API
token). Which AIs exist is not a setting: the registry is the catalog (``aidock.agent.catalog``).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import AliasChoices, Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from aidock.agent.client import TokenError, read_token
from aidock.agent.errors import ImageRefused, InvalidField
from aidock.schemas.agent import (
    AI_NAME_MAX,
    AI_NAME_PATTERN,
    AI_NAME_RULE,
    TAG_PATTERN,
    TAG_RULE,
)

ENV_PREFIX = "AIDOCK_AGENT_"
CONFIG_ENV = f"{ENV_PREFIX}CONFIG"

_COMPONENT = r"[a-z0-9]+(?:[._-][a-z0-9]+)*"
AI_NAME = re.compile(AI_NAME_PATTERN)
TAG = re.compile(TAG_PATTERN)
_NAMESPACE = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_LABEL = r"[a-z0-9](?:[a-z0-9-]*[a-z0-9])?"
_REGISTRY = re.compile(rf"^{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?$")
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_NETWORK = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_CONSTRAINT = re.compile(r"^node\.[A-Za-z0-9_.-]{1,120} ?(?:==|!=) ?[A-Za-z0-9_.:-]{1,120}$")
_REGISTRY_URL = re.compile(rf"^https?://{_LABEL}(?:\.{_LABEL})*(?::[0-9]{{1,5}})?/?$")
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


class AgentConfig(BaseSettings):
    """Everything the agent needs; build it with ``load``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_prefix_target="all",  # the alias "owner" is AIDOCK_AGENT_OWNER
        env_ignore_empty=True,
        str_strip_whitespace=True,
        extra="forbid",
        frozen=True,
    )

    owner_id: str = Field(
        default="aidock-agent",
        validation_alias=AliasChoices("owner_id", "owner"),
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
    docker_check_interval: float = Field(
        default=2.0, gt=0, le=60, description="Seconds between checks that Docker answers."
    )
    docker_lost_after: float = Field(
        default=60.0,
        ge=0,
        le=3600,
        description="Seconds Docker may stay unreachable before the agent exits with status 3, "
        "so that its container's restart policy starts it anew (0: never exit).",
    )
    registry_url: str | None = Field(
        default=None,
        description="Base URL of the registry's HTTP API as this agent reaches it (it reads "
        "the AI catalog there); default https://<registry>.",
    )
    registry_ca_file: Path | None = Field(
        default=None, description="CA bundle that verifies the registry (default: the system's)."
    )
    signature_public_key: Path | None = Field(
        default=None,
        description="cosign public key (PEM) of the site: an AI runs only when the digest it "
        "runs carries a valid signature of it. Unset: no signature check.",
    )
    catalog_ttl: float = Field(
        default=10.0, ge=0, le=3600, description="Seconds the GET /v1/ais listing is kept."
    )
    backend: Literal["docker", "swarm"] = Field(
        default="docker",
        description="docker: one container per instance on this host's engine; swarm: one "
        "Swarm service per instance (replicas spread over the AI hosts; the engine the agent "
        "talks to must be a swarm manager).",
    )
    swarm_network: str = Field(
        default="aidock-swarm",
        description="Attachable overlay network of the AI services (the swarm role makes it); "
        "the agent's container must be attached to it to reach the tasks.",
    )
    swarm_constraint: str = Field(
        default="node.labels.ai.aidock.ai-host==true",
        description="Placement constraint of every AI service (the swarm role labels AI hosts).",
    )
    swarm_restart_max_attempts: int = Field(
        default=3,
        ge=1,
        le=100,
        description="Restarts of a task within 2 minutes before Swarm gives up on its slot "
        "(a crash loop ends; a node lost now and then is still replaced).",
    )
    max_replicas: int = Field(
        default=8, ge=1, le=256, description="Most replicas one swarm instance may ask for."
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The environment, then the arguments (``load`` passes the file's settings): no
        ``.env`` file, no secrets directory."""
        return env_settings, init_settings

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

    @field_validator("swarm_network")
    @classmethod
    def _swarm_network(cls, value: str) -> str:
        if not _NETWORK.match(value) or value in {"bridge", "host", "none", "ingress"}:
            raise ValueError("must be an overlay network of ours (not bridge, host, none, ingress)")
        return value

    @field_validator("swarm_constraint")
    @classmethod
    def _swarm_constraint(cls, value: str) -> str:
        if not _CONSTRAINT.match(value):
            raise ValueError(
                "must be one Swarm placement constraint 'node.<attribute>==<value>' or '!='"
            )
        return value

    @field_validator("registry_url")
    @classmethod
    def _registry_url(cls, value: str | None) -> str | None:
        if value is not None and not _REGISTRY_URL.match(value):
            raise ValueError("must be http(s)://host[:port] without a path")
        return value.rstrip("/") if value else value

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

    @property
    def registry_api(self) -> str:
        """Base URL of the registry's HTTP API."""
        return self.registry_url or f"https://{self.registry}"

    def start_timeout_for(self, declared: float | None) -> float:
        """The AI's own start timeout (its image label), else the agent default."""
        return declared if declared is not None else self.start_timeout

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
        ('/', ':', '@', backslash, '..', whitespace) and ``InvalidField`` (422) for a name or
        tag Docker would not accept. Whether the registry has it is the catalog's question.
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
        if len(ai) > AI_NAME_MAX or not AI_NAME.match(ai):
            raise InvalidField(f"ai: {ai!r} is not an AI name ({AI_NAME_RULE})", "ai")
        if not TAG.match(version):
            raise InvalidField(f"version: {version!r} is not a valid tag ({TAG_RULE})", "version")
        ref = ImageRef(self.registry, f"{self.namespace}/{ai}", version)
        if not str(ref).startswith(f"{self.registry}/{self.namespace}/"):  # defence in depth
            raise ImageRefused(f"ai: {ref} is outside {self.registry}/{self.namespace}/", "ai")
        return ref

    @classmethod
    def load(cls, path: Path | str | None = None) -> AgentConfig:
        """Settings from ``path`` (or ``$AIDOCK_AGENT_CONFIG``), overridden by the environment."""
        source = str(path) if path else os.environ.get(CONFIG_ENV, "").strip()
        values: dict[str, Any] = read_file(Path(source)) if source else {}
        where = f"{source} and the environment" if source else "the environment"
        # BaseSettings takes "_name" arguments as options of its own, never as settings.
        if options := sorted(str(key) for key in values if str(key).startswith("_")):
            raise ConfigError(f"invalid agent settings from {where}: {options[0]}: not a setting")
        try:
            return cls(**values)
        except (ValidationError, SettingsError) as exc:
            detail = describe(exc) if isinstance(exc, ValidationError) else str(exc)
            raise ConfigError(f"invalid agent settings from {where}: {detail}") from exc


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
