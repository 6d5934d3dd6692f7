"""Request targets in canonical form, or refused.

Nothing is guessed: a target is accepted only when it already is what the Docker SDK sends
(``urllib.parse.quote(..., safe="/:")`` of each path argument). ``%2e%2e``, ``%2F``,
lower-case or needless escapes, ``..`` and ``.`` segments, ``//``, a trailing ``/``,
backslashes, control characters, fragments and anything outside ``[A-Za-z0-9._:@/-]`` once
decoded are refused with the rule ``path-not-canonical``. The API version prefix
(``/v1.45``) is split off and checked against the policy's minimum (older versions change
dockerd's defaults, e.g. the cgroup namespace of API < 1.40 clients is the host's).
Query strings are parsed strictly: every key at most once (Go's ``Form.Get`` takes the
first, a checker might take the last), and re-encoded before forwarding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import parse_qsl, quote, unquote, urlencode

_VERSION = re.compile(r"^/v(?P<major>[0-9]{1,2})\.(?P<minor>[0-9]{1,3})(?=/)")
_DECODED = re.compile(r"^(?:/[A-Za-z0-9_:@-][A-Za-z0-9._:@-]*)+$")
_ESCAPE = re.compile(r"%(?![0-9A-F]{2})")


class TargetRefused(ValueError):
    """The request target is not canonical (rule ``path-not-canonical`` or ``api-version``)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


@dataclass(frozen=True)
class Target:
    """A canonical request target: API version (or None), path without it, query pairs."""

    version: tuple[int, int] | None
    path: str
    query: dict[str, str]

    @property
    def version_prefix(self) -> str:
        """``/v1.45`` (empty for an unversioned request)."""
        return f"/v{self.version[0]}.{self.version[1]}" if self.version else ""

    def upstream(self, path: str | None = None) -> str:
        """The target forwarded to dockerd (``path`` replaces the checked one)."""
        query = urlencode(self.query)
        return f"{self.version_prefix}{path or self.path}" + (f"?{query}" if query else "")


def _refuse(message: str) -> TargetRefused:
    return TargetRefused("path-not-canonical", message)


def parse_target(raw: str, min_version: tuple[int, int]) -> Target:
    """The canonical ``Target`` of the raw request target ``raw``."""
    if not raw.startswith("/") or "#" in raw or "\\" in raw:
        raise _refuse(f"{raw[:200]!r} is not an absolute path")
    if any(ord(c) < 0x21 or ord(c) > 0x7E for c in raw):
        raise _refuse("the request target holds control, space or non-ASCII characters")
    raw_path, _, raw_query = raw.partition("?")
    if _ESCAPE.search(raw_path):
        raise _refuse(f"{raw_path[:200]!r}: '%' not followed by two upper-case hex digits")
    path = unquote(raw_path)
    if quote(path, safe="/:") != raw_path and path != raw_path:
        raise _refuse(f"{raw_path[:200]!r} holds escapes a Docker client would not send")
    if "//" in path or any(seg in {".", ".."} for seg in path.split("/")):
        raise _refuse(f"{path[:200]!r} has an empty, '.' or '..' segment")
    version: tuple[int, int] | None = None
    match = _VERSION.match(path)
    if match:
        version = (int(match["major"]), int(match["minor"]))
        path = path[match.end() :]
        if version < min_version:
            raise TargetRefused(
                "api-version",
                f"API version {version[0]}.{version[1]} is older than "
                f"{min_version[0]}.{min_version[1]} (older versions change dockerd's defaults)",
            )
    if not _DECODED.match(path):
        raise _refuse(f"{path[:200]!r} is not a path this proxy reads")
    return Target(version, path, parse_query(raw_query))


def parse_query(raw: str) -> dict[str, str]:
    """Query pairs; a key given twice, or a malformed pair, is refused."""
    if not raw:
        return {}
    try:
        pairs = parse_qsl(raw, keep_blank_values=True, strict_parsing=True, max_num_fields=32)
    except ValueError as exc:
        raise _refuse(f"query string: {exc}") from exc
    query: dict[str, str] = {}
    for key, value in pairs:
        if key in query:
            raise _refuse(f"query parameter {key!r} given twice")
        query[key] = value
    return query
