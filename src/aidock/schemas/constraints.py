"""Constraints that validate a value and say the same thing in the JSON Schema.

A rule a service enforces in a ``field_validator`` is invisible to the OpenAPI document,
so the document and the service disagree (issue 15: the RAG spec lacked the metadata key
pattern; the Bento spec had no ``minLength`` on ``text``). Each annotation here carries its
rule once, for both: pydantic calls it to validate and to write the JSON Schema.

- ``NotBlank``: at least one character that is not whitespace as ``str.strip`` sees it;
  the schema says ``minLength: 1`` and a ``pattern`` whose character class is exactly
  Python's whitespace (``NOT_BLANK_PATTERN``), so every regex engine reads it the same way.
- ``KeyRule``: the keys of a JSON object match a pattern and avoid reserved names;
  the schema says it with ``propertyNames``. (pydantic writes a constrained key type as
  ``patternProperties``, which in JSON Schema lets every other key through.)
- ``whole_number``: an integer field accepts ``9.0`` as ``9``. JSON Schema's ``integer`` is
  any number with a zero fractional part, so no document can exclude ``9.0``; strict pydantic
  refused it, and that was a disagreement (issue 15). Still refused: ``9.5``, ``"9"``, ``true``.

Patterns use pydantic's own regex engine (``StringConstraints(pattern=...)``), whose ``$``
ends the string as in JSON Schema (ECMA 262); Python's ``re`` lets ``$`` match before a
final newline, so ``re.match`` accepted ``"abc\\n"`` where the document refused it.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated, Any

from pydantic import GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints, TypeAdapter
from pydantic import ValidationError as _ValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema


def _char_class(chars: Iterable[str]) -> str:
    """``[...]`` body naming ``chars`` with ``\\uXXXX`` escapes, consecutive runs as ranges."""
    codes = sorted({ord(c) for c in chars})
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and code == runs[-1][1] + 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))
    escape = "\\u{:04x}".format
    return "".join(escape(a) if a == b else f"{escape(a)}-{escape(b)}" for a, b in runs)


# Every character str.strip() removes: str.isspace() over the whole of Unicode.
WHITESPACE = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
# Some character that is not whitespace: \s differs between Python, Rust and ECMA 262 regexes
# (\x1c-\x1f, \ufeff), an explicit class does not.
NOT_BLANK_PATTERN = f"[^{_char_class(WHITESPACE)}]"


@dataclass(frozen=True)
class NotBlank:
    """A string with a character that is not whitespace (as ``str.strip`` sees it)."""

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(_not_blank, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        json_schema["minLength"] = max(1, json_schema.get("minLength", 0))
        json_schema["pattern"] = NOT_BLANK_PATTERN
        return json_schema


def _not_blank(value: str) -> str:
    if not value.strip():
        raise PydanticCustomError(
            "string_blank", "String should contain at least one non-whitespace character"
        )
    return value


@dataclass(frozen=True)
class KeyRule:
    """The keys of a JSON object match ``pattern`` and are none of ``reserved``.

    Errors name the object (``metadata: Value error, key 'x' is reserved``), not a key.
    """

    pattern: str
    reserved: frozenset[str] = frozenset()
    _key: TypeAdapter[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        key = TypeAdapter(Annotated[str, StringConstraints(pattern=self.pattern)])
        object.__setattr__(self, "_key", key)

    def check(self, value: dict[str, Any]) -> dict[str, Any]:
        for key in value:
            if key in self.reserved:
                raise ValueError(f"key {key!r} is reserved")
            try:
                self._key.validate_python(key)
            except _ValidationError:
                raise ValueError(f"key {key!r} must match {self.pattern}") from None
        return value

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(self.check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        names: dict[str, Any] = {"pattern": self.pattern}
        if self.reserved:
            names["not"] = {"enum": sorted(self.reserved)}
        json_schema["propertyNames"] = names
        return json_schema


@dataclass(frozen=True)
class NotContaining:
    """A string without ``text`` in it; the schema says ``not: {pattern: <text escaped>}``."""

    text: str

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        def check(value: str) -> str:
            if self.text in value:
                raise ValueError(f"must not contain {self.text!r}")
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        escaped = "".join(f"\\{c}" if c in r"\^$.|?*+()[]{}" else c for c in self.text)
        json_schema["not"] = {"pattern": escaped}
        return json_schema


def whole_number(value: Any) -> Any:
    """``9.0`` -> ``9`` (a JSON Schema integer); anything else unchanged for the int check."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value
