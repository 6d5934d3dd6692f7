"""Settings of the proxy: ``AIDOCK_DOCKERPROXY_*`` environment variables (pydantic-settings).

The policy file says what is allowed; these say for whom and where: the site registry and
namespace images must come from, the owner label value of the agent's containers, the
networks they may join, the socket dockerd listens on and the one the proxy serves.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

ENV_PREFIX = "AIDOCK_DOCKERPROXY_"
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


_RESERVED_NETWORKS = frozenset({"bridge", "host", "none", "default", "ingress"})


class ProxySettings(BaseSettings):
    """Everything the proxy needs besides its policy."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="forbid", frozen=True, str_strip_whitespace=True
    )

    upstream: Path = Field(
        default=Path("/var/run/docker.sock"), description="dockerd's unix socket."
    )
    listen: Path = Field(
        default=Path("/run/aidock/dockerproxy/docker.sock"),
        description="Unix socket the proxy serves (the agent's DOCKER_HOST).",
    )
    socket_mode: int = Field(default=0o660, ge=0, le=0o777, description="Mode of that socket.")
    registry: str = Field(
        default="localhost:5000",
        pattern=r"^[a-z0-9](?:[a-z0-9.-]*[a-z0-9])?(?::[0-9]{1,5})?$",
        description="host[:port] of the site registry.",
    )
    namespace: str = Field(default="aidock", pattern=r"^[a-z0-9]+(?:[._/-][a-z0-9]+)*$")
    owner_label: str = Field(default="ai.aidock.owner", pattern=r"^[a-z0-9][a-z0-9._-]*$")
    owner: str = Field(default="aidock-agent", pattern=_NAME)
    networks: list[str] = Field(default=["aidock-ai"], min_length=1)
    swarm_networks: list[str] = Field(
        default=["aidock-swarm"],
        min_length=1,
        description="Overlay networks the agent's Swarm services may join (swarm backend).",
    )
    swarm_constraint: str = Field(
        default="node.labels.ai.aidock.ai-host==true",
        pattern=r"^node\.[A-Za-z0-9_.-]{1,120} ?(?:==|!=) ?[A-Za-z0-9_.:-]{1,120}$",
        description="Placement constraint every service of the agent must carry.",
    )
    policy_file: Path | None = Field(default=None, description="Default: the packaged one.")
    threads: int = Field(default=16, ge=2, le=256, description="Requests served at once.")
    upstream_timeout: float = Field(
        default=300.0, gt=0, description="Seconds dockerd may stay silent within a request."
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
        """Arguments, then the environment; no ``.env`` file, no secrets directory."""
        return init_settings, env_settings

    @field_validator("networks", "swarm_networks")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for name in value:
            if not re.match(_NAME, name) or name in _RESERVED_NETWORKS:
                raise ValueError(f"{name!r}: a user-defined network name (not bridge/host/none)")
        return value

    def substitutions(self) -> dict[str, Any]:
        """The ``${name}`` values of the policy file."""
        return {
            "registry": self.registry,
            "namespace": self.namespace,
            "owner_label": self.owner_label,
            "owner": self.owner,
            "networks": list(self.networks),
            "swarm_networks": list(self.swarm_networks),
            "swarm_constraint": self.swarm_constraint,
        }
