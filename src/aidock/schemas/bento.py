"""Versioned request/response models of the document AIs (Bentos), and their registry.

Every AI type speaks one schema version, a string ``<type>/v<major>`` such as
``extraction/v1`` (parsed and compared by ``aidock.schemas``). A response carries its
schema version so clients can check what they got; a model artifact declares the version
it was trained for, and the service refuses to serve it under another one
(``check_compatible``). Offsets in responses are character offsets into the request text
exactly as sent: the text is validated, never stripped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    StrictStr,
    model_validator,
)

from aidock.schemas import (
    IncompatibleSchemaVersion,
    UnknownSchemaVersion,
    compatible,
    parse_version,
)
from aidock.schemas.constraints import NotBlank

MAX_TEXT_CHARS = 200_000
EXTRACTION_V1 = "extraction/v1"
CATEGORIZATION_V1 = "categorization/v1"

Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    text: Annotated[StrictStr, NotBlank()] = Field(
        max_length=MAX_TEXT_CHARS,
        description=f"Document text (1 to {MAX_TEXT_CHARS} characters, not only whitespace).",
    )


class _Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RequestErrorResponse(BaseModel):
    """A refused request (400, 413, 422): the aidock error body, plus pydantic's errors."""

    error: str = Field(description="What is wrong, each problem as '<field>: <message>'.")
    field: str | None = Field(
        default=None, description="The first field at fault (null: the whole body)."
    )
    detail: list[dict[str, Any]] | None = Field(
        default=None, description="pydantic's errors (type, loc, msg, input) of a 400 or 422."
    )


class ExtractionRequest(_Request):
    """Body of an extraction call."""


class SpanOut(_Response):
    """One extracted field: ``text == request.text[start:end]``."""

    label: StrictStr = Field(min_length=1)
    start: NonNegativeInt
    end: NonNegativeInt
    text: StrictStr
    confidence: Probability

    @model_validator(mode="after")
    def _check_offsets(self) -> SpanOut:
        if self.end < self.start:
            raise ValueError(f"end ({self.end}) is before start ({self.start})")
        if self.end - self.start != len(self.text):
            raise ValueError("end - start must equal len(text)")
        return self


class ExtractionResponse(_Response):
    """Answer of an extraction call."""

    schema_version: Literal["extraction/v1"] = EXTRACTION_V1
    spans: list[SpanOut] = Field(default_factory=list)


class CategorizationRequest(_Request):
    """Body of a categorization call."""


class CategorizationResponse(_Response):
    """Answer of a categorization call."""

    schema_version: Literal["categorization/v1"] = CATEGORIZATION_V1
    category: StrictStr = Field(min_length=1)
    confidence: Probability
    scores: dict[str, Probability]

    @model_validator(mode="after")
    def _category_scored(self) -> CategorizationResponse:
        if self.scores and self.category not in self.scores:
            raise ValueError(f"category {self.category!r} has no score")
        return self


@dataclass(frozen=True)
class SchemaPair:
    """The request and response models of one schema version."""

    schema_version: str
    ai_type: str
    request: type[BaseModel]
    response: type[BaseModel]

    def json_schemas(self) -> dict[str, dict[str, Any]]:
        """JSON Schemas of the request and the response (for OpenAPI documents)."""
        return {
            "request": self.request.model_json_schema(),
            "response": self.response.model_json_schema(),
        }


SCHEMAS: dict[str, SchemaPair] = {
    EXTRACTION_V1: SchemaPair(EXTRACTION_V1, "extraction", ExtractionRequest, ExtractionResponse),
    CATEGORIZATION_V1: SchemaPair(
        CATEGORIZATION_V1, "categorization", CategorizationRequest, CategorizationResponse
    ),
}


def resolve(schema_version: str) -> SchemaPair:
    """The request/response pair of ``schema_version``."""
    pair = SCHEMAS.get(schema_version) if isinstance(schema_version, str) else None
    if pair is None:
        raise UnknownSchemaVersion(
            f"unknown schema version {schema_version!r}; known: {', '.join(sorted(SCHEMAS))}"
        )
    return pair


def check_compatible(declared: str, expected: str) -> SchemaPair:
    """Fail unless a model declaring ``declared`` can serve ``expected``; return its pair.

    Both must be registered. Same type and same major version are compatible (within a
    major version, changes are additive); anything else raises
    ``IncompatibleSchemaVersion``.
    """
    expected_pair = resolve(expected)
    resolve(declared)
    if not compatible(declared, expected):
        declared_type, _ = parse_version(declared)
        expected_type, _ = parse_version(expected)
        reason = (
            f"{declared_type} is not {expected_type}"
            if declared_type != expected_type
            else "major versions differ"
        )
        raise IncompatibleSchemaVersion(
            f"model speaks {declared!r} but the service serves {expected!r}: {reason}"
        )
    return expected_pair
