"""Schema versions ``<type>/v<major>``: parsing and the one compatibility rule."""

from __future__ import annotations

import pytest

from aidock.schemas import UnknownSchemaVersion, compatible, parse_version


def test_parse_version() -> None:
    assert parse_version("extraction/v1") == ("extraction", 1)
    assert parse_version("categorization/v12") == ("categorization", 12)
    for bad in ("extraction", "extraction/1", "extraction/v0", "/v1", "extraction/v1/x"):
        with pytest.raises(UnknownSchemaVersion, match="malformed"):
            parse_version(bad)
    assert issubclass(UnknownSchemaVersion, ValueError)


@pytest.mark.parametrize(
    ("declared", "expected", "ok"),
    [
        ("rag/v1", "rag/v1", True),
        ("rag/v2", "rag/v1", False),
        ("extraction/v1", "rag/v1", False),
        ("rag/v01", "rag/v1", False),
        ("rag", "rag/v1", False),
        ("rag/v1", "", False),
    ],
)
def test_compatible_is_same_type_and_major(declared: str, expected: str, ok: bool) -> None:
    assert compatible(declared, expected) is ok
