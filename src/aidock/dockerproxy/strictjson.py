"""JSON as dockerd would read it, refusing what it would read differently from us.

Go's ``encoding/json`` matches object keys to struct fields case-insensitively and lets the
last of two equal keys win (moby/moby#41868): a checker that sees ``"Privileged": false``
while dockerd sees ``"privileged": true`` later in the same object is bypassed. So an object
holding the same key twice, or two keys that differ only in case, is refused here, at every
depth (also inside free-form maps such as ``Labels``, where Go would keep both: the agent
never sends such a pair). ``NaN``/``Infinity`` (not JSON; Go refuses them) are refused too,
and so is nesting deeper than ``MAX_DEPTH``.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JsonRefused(ValueError):
    """The body is not JSON this proxy will forward; ``rule`` names why."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    seen: dict[str, str] = {}
    for key, _ in pairs:
        folded = key.casefold()
        if folded in seen:
            if seen[folded] == key:
                raise JsonRefused("json-duplicate-key", f"key {key!r} appears twice in an object")
            raise JsonRefused(
                "json-key-case",
                f"keys {seen[folded]!r} and {key!r} differ only in case "
                "(dockerd matches field names case-insensitively)",
            )
        seen[folded] = key
    return dict(pairs)


def _constant(name: str) -> Any:
    raise JsonRefused("json-invalid", f"{name} is not JSON")


def _depth(value: Any, level: int = 0) -> None:
    if level > MAX_DEPTH:
        raise JsonRefused("json-invalid", f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, dict):
        for item in value.values():
            _depth(item, level + 1)
    elif isinstance(value, list):
        for item in value:
            _depth(item, level + 1)


def loads(raw: bytes) -> Any:
    """The JSON value of ``raw`` (UTF-8); ``JsonRefused`` for anything ambiguous or invalid."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise JsonRefused("json-invalid", f"body is not UTF-8: {exc.reason}") from exc
    try:
        value = json.loads(text, object_pairs_hook=_pairs, parse_constant=_constant)
    except JsonRefused:
        raise
    except (ValueError, RecursionError) as exc:
        raise JsonRefused("json-invalid", f"body is not JSON: {exc}") from exc
    _depth(value)
    return value


def dumps(value: Any) -> bytes:
    """The canonical serialisation forwarded to dockerd (never the client's bytes)."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"), allow_nan=False).encode()
