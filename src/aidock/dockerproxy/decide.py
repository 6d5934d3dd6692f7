"""The decision on one request: forward it (as re-serialised here) or refuse it, by rule.

Pure logic: the only outside fact it needs, a container's labels, comes through
``ContainerLookup`` (dockerd in the server, a dict in unit tests). Order: request target
(canonical, API version) -> route (first match; none: ``default-deny``) -> path parameters
-> query parameters (unlisted ones refused) -> body (size, strict JSON, the route's check;
no body where the route has no check) -> owner label of the container. What is forwarded is
built from the checked values: the canonical path (with the container's full id), the query
re-encoded, the JSON re-serialised, and only the headers the route passes through.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from aidock.dockerproxy import strictjson
from aidock.dockerproxy.config import ProxySettings
from aidock.dockerproxy.paths import Target, TargetRefused, parse_target
from aidock.dockerproxy.policy import Check, Policy, Route

PASS_HEADERS = ("User-Agent", "Accept")
MAX_HEADER_BYTES = 8192


class Refused(Exception):
    """A refusal: HTTP ``status`` (403, 413, 404), the ``rule`` and a message for the client."""

    def __init__(self, rule: str, message: str, status: int = 403) -> None:
        super().__init__(f"{message} (rule: {rule})")
        self.rule = rule
        self.message = message
        self.status = status

    @property
    def answer(self) -> dict[str, str]:
        """The JSON body (Docker clients print ``message``)."""
        return {"message": f"{self.message} (rule: {self.rule})"}


@dataclass(frozen=True)
class Request:
    """What the client sent: method, raw request target, headers (any case), whole body."""

    method: str
    target: str
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        lower = name.lower()
        return next((v for k, v in self.headers.items() if k.lower() == lower), None)


@dataclass(frozen=True)
class Forward:
    """The request to send to dockerd, built from checked values only."""

    route: str
    method: str
    target: str
    headers: dict[str, str]
    body: bytes | None


class ContainerLookup(Protocol):
    """A container's (``kind`` service: a Swarm service's) full id and labels from dockerd,
    None when it does not exist."""

    def __call__(self, ref: str, kind: str = "container") -> tuple[str, dict[str, str]] | None: ...


def is_zero(value: Any) -> bool:
    """True for Go's zero values (and null): what dockerd treats as not set."""
    return value is None or value is False or value in (0, "", [], {})


_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


class Decider:
    """Interprets a ``Policy`` for one proxy's settings."""

    def __init__(self, policy: Policy, settings: ProxySettings) -> None:
        self.policy = policy
        self.settings = settings
        self._routes = [(route, route.regex()) for route in policy.routes]

    # -- entry point -----------------------------------------------------------------------

    def decide(self, request: Request, lookup: ContainerLookup) -> Forward:
        """The ``Forward`` for ``request``; raises ``Refused``."""
        method = request.method.upper()
        try:
            target = parse_target(request.target, self.policy.min_version)
        except TargetRefused as exc:
            raise Refused(exc.rule, exc.message) from exc
        route, match = self._route(method, target)
        if route.deny:
            raise Refused(route.name, f"{method} {target.path} is never allowed")
        for name, check in route.params.items():
            self._check(match[name], check, name, check.rule or route.name)
        query = self._query(route, target)
        body = self._body(route, request)
        path = target.path
        if route.owned:
            kind = "service" if "service" in match.groupdict() else "container"
            path = self._owned(match.group(kind), match.span(kind), path, lookup, kind)
        if route.owned_filter:
            query["filters"] = self._owned_filter(route.owned_filter, query["filters"], lookup)
        headers = self._headers(route, request, body)
        return Forward(
            route.name, method, Target(target.version, path, query).upstream(), headers, body
        )

    # -- steps -----------------------------------------------------------------------------

    def _route(self, method: str, target: Target) -> tuple[Route, Any]:
        for route, regex in self._routes:
            match = regex.match(target.path)
            if match and (route.deny or route.matches(method)):
                return route, match
        raise Refused("default-deny", f"{method} {target.path}: no rule allows this request")

    def _query(self, route: Route, target: Target) -> dict[str, str]:
        out: dict[str, str] = {}
        for key, value in target.query.items():
            check = route.query.get(key)
            if check is None:
                raise Refused("unknown-query", f"query parameter {key!r} is not allowed here")
            rule = check.rule or route.name
            if check.json_:
                parsed = self._json(value.encode())
                self._check(parsed, self.policy.checks[check.json_], key, rule)
                out[key] = strictjson.dumps(parsed).decode()
            else:
                self._check(value, check, key, rule)
                out[key] = value
        for key, check in route.query.items():
            if check.required and key not in target.query:
                raise Refused(check.rule or route.name, f"query parameter {key!r} is required")
        return out

    def _body(self, route: Route, request: Request) -> bytes | None:
        limit = self.policy.max_body_bytes
        if len(request.body) > limit:
            raise Refused("body-too-large", f"the body exceeds {limit} bytes", 413)
        if route.body is None:
            if request.body.strip():
                raise Refused("body-not-allowed", f"{route.name} takes no body")
            return None
        value = self._json(request.body)
        check = self.policy.checks[route.body]
        self._check(value, check, "body", check.rule or route.name)
        return strictjson.dumps(value)

    def _owned(
        self,
        ref: str,
        span: tuple[int, int],
        path: str,
        lookup: ContainerLookup,
        kind: str = "container",
    ) -> str:
        return path[: span[0]] + self._owner_of(ref, lookup, kind) + path[span[1] :]

    def _owner_of(self, ref: str, lookup: ContainerLookup, kind: str) -> str:
        """The full id of ``ref`` once it carries the agent's owner label."""
        found = lookup(ref) if kind == "container" else lookup(ref, kind)
        if found is None:
            raise Refused(f"no-such-{kind}", f"No such {kind}: {ref}", 404)
        full_id, labels = found
        owner_label, owner = self.settings.owner_label, self.settings.owner
        if labels.get(owner_label) != owner:
            raise Refused(f"{kind}-not-owned", f"{kind} {ref} does not carry {owner_label}={owner}")
        return full_id

    def _owned_filter(self, key: str, filters: str, lookup: ContainerLookup) -> str:
        """``filters`` (checked JSON) with its ``key`` naming exactly one owned service, by
        its full id (so that a name cannot be re-pointed between check and use)."""
        parsed = strictjson.loads(filters.encode())
        refs = parsed.get(key)
        if not isinstance(refs, list) or len(refs) != 1 or not isinstance(refs[0], str):
            raise Refused("service-filter", f"filters.{key}: must name exactly one service")
        parsed[key] = [self._owner_of(refs[0], lookup, "service")]
        return strictjson.dumps(parsed).decode()

    def _headers(self, route: Route, request: Request, body: bytes | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name in (*PASS_HEADERS, *route.headers):
            value = request.header(name)
            if value is not None:
                if len(value) > MAX_HEADER_BYTES or not value.isprintable():
                    raise Refused("header-invalid", f"header {name} is too long or not printable")
                headers[name] = value
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    @staticmethod
    def _json(raw: bytes) -> Any:
        try:
            return strictjson.loads(raw)
        except strictjson.JsonRefused as exc:
            raise Refused(exc.rule, exc.message) from exc

    # -- the JSON checks -------------------------------------------------------------------

    def _check(self, value: Any, check: Check, where: str, rule: str) -> None:
        rule = check.rule or rule
        if check.absent:
            if value is not None:
                raise Refused(rule, f"{where}: must be absent or null")
            return
        if check.zero:
            if not is_zero(value):
                raise Refused(rule, f"{where}: must be absent, null, false, 0 or empty")
            return
        if value is None:
            if check.required:
                raise Refused(rule, f"{where}: must be set")
            return
        if check.type == "integer":
            if not isinstance(value, int) or isinstance(value, bool):
                raise Refused(rule, f"{where}: must be an integer")
        elif check.type and not isinstance(value, _TYPES[check.type]):
            raise Refused(rule, f"{where}: must be of type {check.type}")
        if check.has_equals and value != check.equals:
            raise Refused(rule, f"{where}: must be {check.equals!r}")
        if check.one_of is not None and value not in check.one_of:
            raise Refused(rule, f"{where}: must be one of {check.one_of!r}")
        if check.pattern is not None and (
            not isinstance(value, str) or not _fullmatch(check.pattern, value)
        ):
            raise Refused(rule, f"{where}: {str(value)[:200]!r} is not allowed")
        self._bounds(value, check, where, rule)
        if isinstance(value, list):
            for index, item in enumerate(value):
                if check.items is not None:
                    self._check(item, check.items, f"{where}[{index}]", rule)
        if isinstance(value, dict):
            self._object(value, check, where, rule)

    def _bounds(self, value: Any, check: Check, where: str, rule: str) -> None:
        if check.minimum is not None and (not isinstance(value, int) or value < check.minimum):
            raise Refused(rule, f"{where}: must be at least {check.minimum}")
        if check.maximum is not None and (not isinstance(value, int) or value > check.maximum):
            raise Refused(rule, f"{where}: must be at most {check.maximum}")
        for wanted in check.contains or []:
            if not isinstance(value, list) or wanted not in value:
                raise Refused(rule, f"{where}: must contain {wanted!r}")

    def _object(self, value: dict[str, Any], check: Check, where: str, rule: str) -> None:
        fields = check.fields or {}
        folded = {name.casefold(): name for name in fields}
        for name, sub in fields.items():
            if sub.required and name not in value:
                raise Refused(sub.rule or rule, f"{where}.{name}: must be set")
        for key, item in value.items():
            if key in fields:
                self._check(item, fields[key], f"{where}.{key}", rule)
            elif key.casefold() in folded:
                raise Refused(
                    "json-key-case",
                    f"{where}.{key}: write {folded[key.casefold()]!r} (dockerd matches field "
                    "names case-insensitively)",
                )
            elif check.values is not None:
                if check.keys is not None:
                    self._check(key, check.keys, f"{where} key {key!r}", rule)
                self._check(item, check.values, f"{where}.{key}", rule)
            else:
                raise Refused("unknown-field", f"{where}.{key}: not a field this policy allows")


def _fullmatch(pattern: str, value: str) -> bool:
    return re.fullmatch(pattern, value) is not None
