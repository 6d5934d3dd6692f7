"""Wire models of every HTTP API aidock speaks, and the one rule of schema compatibility.

Modules: ``errors`` (the ``{"error", "field"}`` body of every 4xx/5xx), ``agent`` (the
agent's instance API), ``rag`` (the RAG AI) and ``bento`` (the document AIs served as
Bentos, with their registry of schema versions); ``constraints`` holds the rules that
validate and state themselves in the JSON Schema, so the OpenAPI documents say what the
services check. They depend on pydantic only, so a client
imports them without Flask, BentoML, Docker or scikit-learn.

An API speaks one schema version, a string ``<type>/v<major>`` such as ``extraction/v1``
or ``rag/v1``. Within a major version changes are additive, so a declared version serves
an expected one when both name the same type and the same major (``compatible``).
"""

from __future__ import annotations

import re

SCHEMA_VERSION_RULE = "'<type>/v<major>', e.g. 'extraction/v1'"
_VERSION = re.compile(r"^(?P<type>[a-z][a-z0-9_-]*)/v(?P<major>[1-9][0-9]*)$")


class UnknownSchemaVersion(ValueError):
    """A malformed schema version, or one that no registered API type speaks."""


class IncompatibleSchemaVersion(ValueError):
    """A model or service declares a schema version other than the one expected."""


def parse_version(schema_version: str) -> tuple[str, int]:
    """``"extraction/v1"`` -> ``("extraction", 1)``; malformed strings raise."""
    match = _VERSION.match(schema_version) if isinstance(schema_version, str) else None
    if match is None:
        raise UnknownSchemaVersion(
            f"malformed schema version {schema_version!r}: expected {SCHEMA_VERSION_RULE}"
        )
    return match["type"], int(match["major"])


def compatible(declared: str, expected: str) -> bool:
    """True when ``declared`` serves ``expected``: same type, same major; malformed: False."""
    try:
        return parse_version(declared) == parse_version(expected)
    except UnknownSchemaVersion:
        return False
