"""Request/response models of the RAG API (``rag/v1``)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
)

from aidock.schemas.constraints import KeyRule, NotBlank, NotContaining, whole_number

MAX_DOCUMENTS = 1000
MAX_QUESTION_CHARS = 2000
MAX_TOP_K = 20
RESERVED_METADATA_KEYS = frozenset({"document_id", "source", "chunk"})
COLLECTION_NAME_RULE = (
    "must be 3-63 characters of [a-zA-Z0-9._-], start and end with a letter or digit "
    "and not contain '..'"
)
COLLECTION_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{1,61}[A-Za-z0-9]$"
METADATA_KEY_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"

# Every rule below is an annotation pydantic both validates with and writes into the JSON
# Schema of the OpenAPI document (aidock.schemas.constraints), so the two cannot disagree.
CollectionName = Annotated[
    str, StringConstraints(pattern=COLLECTION_NAME_PATTERN), NotContaining("..")
]
MetadataValue = StrictStr | StrictInt | StrictFloat | StrictBool
Metadata = Annotated[
    dict[str, MetadataValue], KeyRule(METADATA_KEY_PATTERN, RESERVED_METADATA_KEYS)
]
# Text with a non-whitespace character, stored stripped; lengths count the text as sent.
NonEmptyText = Annotated[str, NotBlank(), AfterValidator(str.strip)]
DocumentId = Annotated[
    str, StringConstraints(max_length=512), NotBlank(), AfterValidator(str.strip)
]
Question = Annotated[
    str, StringConstraints(max_length=MAX_QUESTION_CHARS), NotBlank(), AfterValidator(str.strip)
]
TopK = Annotated[int, Field(ge=1, le=MAX_TOP_K), BeforeValidator(whole_number)]
_COLLECTION_NAME: TypeAdapter[str] = TypeAdapter(CollectionName)


def valid_collection_name(name: str) -> bool:
    """True when ``name`` is an acceptable collection name (see ``COLLECTION_NAME_RULE``)."""
    try:
        _COLLECTION_NAME.validate_python(name, strict=True)
    except ValidationError:
        return False
    return True


def collection_name_schema() -> dict[str, object]:
    """JSON Schema of a collection name (the path parameter of the collection routes)."""
    return _COLLECTION_NAME.json_schema()


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
    metadata: Metadata = Field(default_factory=dict)


class IngestRequest(_Request):
    """Body of ``POST /v1/collections/<name>/documents``."""

    documents: list[DocumentIn] = Field(
        min_length=1,
        max_length=MAX_DOCUMENTS,
        description=(
            "Two different documents may not share an id (the given one, or the sha256 of "
            "the text): 422 naming the second."
        ),
    )


class IngestResponse(BaseModel):
    """Result of an ingest."""

    collection: str
    documents: int
    passages: int


class QueryRequest(_Request):
    """Body of ``POST /v1/collections/<name>/query``."""

    question: Question
    top_k: TopK | None = None


class Source(BaseModel):
    """A retrieved passage."""

    id: str
    document_id: str
    source: str | None
    text: str
    score: float
    section: str | None = Field(
        default=None, description='Where the passage sits: "Title > Section heading".'
    )


class QueryResponse(BaseModel):
    """Answer to a question with the passages it was built from."""

    answer: str
    sources: list[Source]
    mode: Literal["offline", "openai"] = Field(
        description="openai: the LLM server answered; offline: the extractive answer."
    )
    collection: str
    warning: str | None = Field(
        default=None,
        description="Why the answer is offline although an LLM server is configured "
        "(its error or timeout).",
    )


class ReindexResponse(BaseModel):
    """Result of ``POST /v1/collections/<name>/reindex``."""

    collection: str
    passages: int
    embedder: str = Field(description="The embedder that built the collection now.")
    previous_embedder: str | None = Field(description="The one that had built it.")


class CollectionInfo(BaseModel):
    """A collection and its number of passages."""

    name: str
    count: int
    embedder: str | None = None


class CollectionList(BaseModel):
    """Answer of ``GET /v1/collections``."""

    collections: list[CollectionInfo]
    default: str | None = Field(
        default=None, description="The collection the worker uses when none is named."
    )


class HealthResponse(BaseModel):
    """Liveness answer."""

    status: Literal["ok"]


class ReadyResponse(BaseModel):
    """Readiness answer (503 while ``status`` is not ``ready``)."""

    status: Literal["ready", "starting", "failed"]
    collections: int | None = None
    error: str | None = None
