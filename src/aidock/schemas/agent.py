"""Request/response models of the agent API (``agent/v1``)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from aidock.schemas.constraints import NotContaining

API_VERSION = "agent/v1"
AI_NAME_RULE = "1-40 characters of [a-z0-9] separated by single '.', '_' or '-'"
AI_NAME_PATTERN = r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$"
AI_NAME_MAX = 40
TAG_RULE = "[A-Za-z0-9_.-], at most 128, not starting with '.' or '-'"
TAG_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$"
# An AI name (a repository below the site's namespace) and an image tag, as Docker takes them.
# The agent's config checks them with these patterns too (AgentConfig.image_for).
AiName = Annotated[str, StringConstraints(max_length=AI_NAME_MAX, pattern=AI_NAME_PATTERN)]
Tag = Annotated[str, StringConstraints(pattern=TAG_PATTERN), NotContaining("..")]


def _integral(value: Any) -> Any:
    """JSON Schema's integer includes 2.0 (what a JSON encoder may send for 2): take an
    integral float as that int; strings, booleans and fractions are still refused (strict)."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


ReplicaCount = Annotated[int, BeforeValidator(_integral)]


class InstanceRequest(BaseModel):
    """Body of ``POST /v1/instances``."""

    model_config = ConfigDict(extra="forbid", strict=True)

    ai: AiName = Field(description=f"AI name from the catalog, e.g. 'rag' ({AI_NAME_RULE}).")
    version: Tag = Field(description=f"Image tag, e.g. '0.1.0' ({TAG_RULE}, no '..').")
    replicas: ReplicaCount = Field(
        default=1,
        ge=1,
        le=256,
        description="Replicas of the AI (more than 1 only with the agent's swarm backend, at "
        "most its max_replicas); each counts against max_instances.",
    )


class ScaleRequest(BaseModel):
    """Body of ``PATCH /v1/instances/{id}`` (swarm backend)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    replicas: ReplicaCount = Field(
        ge=1, le=256, description="Replicas wanted (at most the agent's max_replicas)."
    )


class InstanceOut(BaseModel):
    """A running, ready AI instance."""

    model_config = ConfigDict(extra="ignore")

    id: str = Field(description="Instance id (also in the container's ai.aidock.instance label).")
    ai: str
    version: str
    image: str = Field(description="Image reference it runs.")
    digest: str | None = Field(default=None, description="Registry digest of the image.")
    endpoint: str = Field(
        description="Base URL of the AI's API, ready when handed out (swarm backend: the "
        "service's DNS name, which resolves to every replica)."
    )
    replicas: int = Field(default=1, description="Replicas wanted.")
    endpoints: list[str] = Field(
        default_factory=list,
        description="Base URL of each ready replica (swarm: each running task's address; a "
        "container: its endpoint). A client spreads its calls over these.",
    )
    ready_path: str = Field(
        default="/readyz", description="GET <endpoint><ready_path> answers 200 while ready."
    )
    schema_version: str = Field(description="Schema the AI speaks, e.g. rag/v1.")
    container: str = Field(description="Container name.")
    started_at: AwareDatetime
    last_used_at: AwareDatetime = Field(
        description="Last request naming this instance (GET of it counts as a keep-alive)."
    )
    idle_ttl: float | None = Field(
        default=None, description="Seconds without use before the agent terminates it."
    )


class InstanceList(BaseModel):
    """Answer of ``GET /v1/instances``."""

    instances: list[InstanceOut]
    max_instances: int


class HealthResponse(BaseModel):
    """Liveness of the agent (Docker reachable or not)."""

    status: Literal["ok", "degraded"]
    docker: bool
    instances: int
    owner_id: str


class AiVersionOut(BaseModel):
    """One version (tag) of an AI in the registry."""

    version: str = Field(description="Image tag.")
    usable: bool = Field(description="True when the image carries a valid AI manifest.")
    digest: str = Field(description="Registry digest of the tag's manifest.")
    size: int = Field(description="Bytes of the image's config and layers (compressed).")
    created: AwareDatetime | None = None
    schema_version: str | None = Field(
        default=None, description="API the AI speaks (from its ai.aidock.schema-version label)."
    )
    port: int | None = Field(default=None, description="Container port of its API.")
    memory: str | None = None
    cpus: float | None = None
    problem: str | None = Field(
        default=None, description="Why an unusable version cannot run (the label at fault)."
    )
    label: str | None = Field(default=None, description="The missing or bad label.")
    signed: bool | None = Field(
        default=None,
        description="True when the digest carries a valid signature of the site key "
        "(GET /v1/ais/<name> only; null when the agent checks no signatures).",
    )


class AiOut(BaseModel):
    """An AI of the catalog: a repository ``<namespace>/<name>`` of the site registry."""

    name: str
    versions: list[AiVersionOut] = Field(description="Newest first.")


class AiList(BaseModel):
    """Answer of ``GET /v1/ais``."""

    registry: str = Field(description="<host:port> the images are pulled from.")
    namespace: str
    ais: list[AiOut]
