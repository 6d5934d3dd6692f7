"""Wire schemas of the document AIs (Bentos): validation, registry and version checks."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from aidock.ais.document import Span
from aidock.schemas import IncompatibleSchemaVersion, UnknownSchemaVersion
from aidock.schemas.bento import (
    CATEGORIZATION_V1,
    EXTRACTION_V1,
    MAX_TEXT_CHARS,
    SCHEMAS,
    CategorizationRequest,
    CategorizationResponse,
    ExtractionRequest,
    ExtractionResponse,
    SpanOut,
    check_compatible,
    resolve,
)


@pytest.mark.parametrize("model", [ExtractionRequest, CategorizationRequest])
def test_request_text_kept_verbatim(model: type) -> None:
    text = "  Invoice 1\n"
    assert model(text=text).text == text  # offsets refer to the text as sent


@pytest.mark.parametrize("model", [ExtractionRequest, CategorizationRequest])
@pytest.mark.parametrize("text", ["", " ", "\n\t "])
def test_request_rejects_blank_text(model: type, text: str) -> None:
    with pytest.raises(ValidationError, match="non-whitespace"):
        model(text=text)


def test_request_limits_and_strictness() -> None:
    assert len(ExtractionRequest(text="x" * MAX_TEXT_CHARS).text) == MAX_TEXT_CHARS
    with pytest.raises(ValidationError):
        ExtractionRequest(text="x" * (MAX_TEXT_CHARS + 1))
    with pytest.raises(ValidationError):
        ExtractionRequest(text=42)
    with pytest.raises(ValidationError):
        ExtractionRequest(text="ok", language="de")
    assert ExtractionRequest.model_validate_json('{"text": "ok"}').text == "ok"


def test_extraction_response_roundtrip() -> None:
    response = ExtractionResponse(
        spans=[SpanOut(label="iban", start=5, end=9, text="DE89", confidence=0.75)]
    )
    data = response.model_dump()
    assert data["schema_version"] == EXTRACTION_V1
    assert ExtractionResponse.model_validate_json(response.model_dump_json()) == response


def test_span_out_from_model_span() -> None:
    span = SpanOut.model_validate(Span("iban", 0, 4, "DE89", 0.5), from_attributes=True)
    assert span.model_dump() == {
        "label": "iban", "start": 0, "end": 4, "text": "DE89", "confidence": 0.5,
    }  # fmt: skip


@pytest.mark.parametrize(
    "fields",
    [
        {"start": 5, "end": 4, "text": ""},
        {"start": 0, "end": 3, "text": "ab"},
        {"start": -1, "end": 1, "text": "ab"},
        {"start": 0, "end": 2, "text": "ab", "confidence": 1.5},
    ],
)
def test_span_out_rejects_inconsistent_spans(fields: dict) -> None:
    with pytest.raises(ValidationError):
        SpanOut(**{"label": "iban", "confidence": 0.5, **fields})


def test_response_schema_version_is_fixed() -> None:
    with pytest.raises(ValidationError):
        ExtractionResponse(schema_version="extraction/v2", spans=[])
    with pytest.raises(ValidationError):
        CategorizationResponse(
            schema_version=EXTRACTION_V1, category="a", confidence=1, scores={"a": 1}
        )


def test_categorization_response() -> None:
    response = CategorizationResponse(
        category="invoice", confidence=0.9, scores={"invoice": 0.9, "claim": 0.1}
    )
    assert response.schema_version == CATEGORIZATION_V1
    with pytest.raises(ValidationError, match="no score"):
        CategorizationResponse(category="poem", confidence=0.9, scores={"invoice": 0.9})
    with pytest.raises(ValidationError):
        CategorizationResponse(category="invoice", confidence=0.9, scores={"invoice": -0.1})


def test_registry_and_resolve() -> None:
    assert set(SCHEMAS) == {EXTRACTION_V1, CATEGORIZATION_V1}
    pair = resolve(EXTRACTION_V1)
    assert (pair.request, pair.response) == (ExtractionRequest, ExtractionResponse)
    assert pair.ai_type == "extraction"
    assert resolve(CATEGORIZATION_V1).response is CategorizationResponse
    schemas = pair.json_schemas()
    assert schemas["request"]["properties"]["text"]["maxLength"] == MAX_TEXT_CHARS
    for version, pair in SCHEMAS.items():
        assert pair.schema_version == version
        default = pair.response.model_fields["schema_version"].default
        assert default == version


@pytest.mark.parametrize("version", ["extraction/v2", "summarization/v1", "", "EXTRACTION/V1"])
def test_unknown_version_lists_known_ones(version: str) -> None:
    with pytest.raises(UnknownSchemaVersion) as info:
        resolve(version)
    assert isinstance(info.value, ValueError)
    assert EXTRACTION_V1 in str(info.value) and CATEGORIZATION_V1 in str(info.value)


def test_check_compatible() -> None:
    assert check_compatible(EXTRACTION_V1, EXTRACTION_V1) is SCHEMAS[EXTRACTION_V1]
    with pytest.raises(IncompatibleSchemaVersion, match="not extraction"):
        check_compatible(CATEGORIZATION_V1, EXTRACTION_V1)
    with pytest.raises(UnknownSchemaVersion):
        check_compatible("extraction/v9", EXTRACTION_V1)
    with pytest.raises(UnknownSchemaVersion):
        check_compatible(EXTRACTION_V1, "extraction/v9")
    assert issubclass(IncompatibleSchemaVersion, ValueError)


def test_check_compatible_names_a_major_version_change(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(SCHEMAS, "extraction/v2", SCHEMAS[EXTRACTION_V1])
    with pytest.raises(IncompatibleSchemaVersion, match="major versions differ"):
        check_compatible("extraction/v2", EXTRACTION_V1)


def test_ai_classes_declare_registered_versions() -> None:
    pytest.importorskip("sklearn")  # the schemas themselves need no scikit-learn
    from aidock.ais.categorization import CategorizationAI  # noqa: PLC0415  after the skip
    from aidock.ais.extraction import ExtractionAI  # noqa: PLC0415  after the skip

    for ai in (ExtractionAI, CategorizationAI):
        assert resolve(ai.schema_version).ai_type == ai.name
