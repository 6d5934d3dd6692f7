"""Request/response models of the RAG API (``rag/v1``)."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
)

MAX_DOCUMENTS = 1000
MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 20
RESERVED_METADATA_KEYS = frozenset({"document_id", "source", "chunk"})
COLLECTION_NAME_RULE = (
    "must be 3-63 characters of [a-zA-Z0-9._-], start and end with a letter or digit "
    "and not contain '..'"
)
COLLECTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$"
_COLLECTION_NAME = re.compile(COLLECTION_NAME_PATTERN)
_METADATA_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")

MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool
NonEmptyText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
DocumentId = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=512)]


def valid_collection_name(name: str) -> bool:
    """True when ``name`` is an acceptable collection name (see ``COLLECTION_NAME_RULE``)."""
    return bool(_COLLECTION_NAME.match(name)) and ".." not in name


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class DocumentIn(_Request):
    """A document to ingest."""

    id: DocumentId | None = Field(
        default=None, description="Stable id; defaults to sha256 of the text."
    )
    text: NonEmptyText = Field(description="Document text; split into passages.")
    source: Annotated[str, StringConstraints(max_length=1024)] | None = Field(
        default=None, description="Where the document comes from (file name, URL, ...)."
    )
    metadata: dict[str, MetadataValue] = Field(default_factory=dict)

    @field_validator("metadata")
    @classmethod
    def _check_keys(cls, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in RESERVED_METADATA_KEYS:
                raise ValueError(f"key {key!r} is reserved")
            if not _METADATA_KEY.match(key):
                raise ValueError(f"key {key!r} must match {_METADATA_KEY.pattern}")
        return value


class IngestRequest(_Request):
    """Body of ``POST /v1/collections/<name>/documents``."""

    documents: list[DocumentIn] = Field(min_length=1, max_length=MAX_DOCUMENTS)


class IngestResponse(BaseModel):
    """Result of an ingest."""

    collection: str
    documents: int
    passages: int


class QueryRequest(_Request):
    """Body of ``POST /v1/collections/<name>/query``."""

    question: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_QUESTION_CHARS)
    ]
    top_k: Annotated[int, Field(ge=1, le=MAX_TOP_K)] | None = None


class Source(BaseModel):
    """A retrieved passage."""

    id: str
    document_id: str
    source: str | None
    text: str
    score: float


class QueryResponse(BaseModel):
    """Answer to a question with the passages it was built from."""

    answer: str
    sources: list[Source]
    mode: Literal["offline", "openai"]
    collection: str


class CollectionInfo(BaseModel):
    """A collection and its number of passages."""

    name: str
    count: int
    embedder: str | None = None


class CollectionList(BaseModel):
    """Answer of ``GET /v1/collections``."""

    collections: list[CollectionInfo]


class HealthResponse(BaseModel):
    """Liveness answer."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """Readiness answer (503 while ``status`` is not ``ready``)."""

    status: Literal["ready", "starting", "failed"]
    collections: int | None = None
    error: str | None = None
