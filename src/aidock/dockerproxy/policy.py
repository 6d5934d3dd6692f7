"""The policy file (``policy.yaml`` in this package) as validated pydantic models.

The file is data: routes (method, path template, query parameters, request headers, the
body check, whether the container must be the agent's) and JSON checks (a small schema
language: type, required, zero, absent, equals, one_of, pattern, minimum/maximum, contains, items,
fields, keys, values). ``load_policy`` validates it (unknown keys are errors, every check a
route names must exist) and substitutes the proxy's settings for ``${name}``;
``aidock.dockerproxy.decide`` interprets it. No refusal is decided anywhere else.
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from aidock.dockerproxy.config import ProxySettings

METHODS = ("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH")
_SETTING = re.compile(r"\$\{([a-z_]+)\}")
_PLACEHOLDER = re.compile(r"\{([a-z]+)\}")


def placeholders_of(path: str) -> set[str]:
    """The placeholder names in a path template."""
    return set(_PLACEHOLDER.findall(path))


# What a path placeholder matches (in an already canonical, decoded path).
PLACEHOLDERS = {
    "container": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
    "network": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
    "service": r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}",
    "image": r"[A-Za-z0-9][A-Za-z0-9._:@/-]{0,511}",
    "any": r".+",
}


class PolicyError(ValueError):
    """The policy file is unreadable or invalid (message names the place)."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Check(_Strict):
    """Constraints on one JSON value (or one query parameter, a string)."""

    rule: str | None = Field(default=None, pattern=r"^[a-z0-9][a-z0-9-]*$")
    type: Literal["string", "integer", "boolean", "object", "array"] | None = None
    required: bool = False
    zero: bool = False
    absent: bool = False
    equals: Any = None
    one_of: list[Any] | None = None
    pattern: str | None = None
    minimum: int | None = None
    maximum: int | None = None
    contains: list[Any] | None = None
    items: Check | None = None
    fields: dict[str, Check] | None = None
    keys: Check | None = None
    values: Check | None = None
    json_: str | None = Field(default=None, alias="json")

    @property
    def has_equals(self) -> bool:
        """True when the file sets ``equals`` (also to null)."""
        return "equals" in self.model_fields_set

    @model_validator(mode="after")
    def _regex(self) -> Check:
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise ValueError(f"pattern {self.pattern!r}: {exc}") from exc
        return self


class Route(_Strict):
    """One (methods, path) entry: allowed when its checks pass, or a named refusal."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9-]*$")
    methods: list[Literal["*", "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"]] = ["*"]
    path: str = Field(pattern=r"^/[A-Za-z0-9_./{}-]*$")
    deny: bool = False
    owned: bool = False
    # A key of the JSON "filters" query whose one value must name a service of the agent's.
    owned_filter: str | None = Field(default=None, pattern=r"^[a-z][a-z-]*$")
    query: dict[str, Check] = {}
    params: dict[str, Check] = {}
    headers: list[str] = []
    body: str | None = None

    def regex(self) -> re.Pattern[str]:
        """The path template as an anchored regex with named groups."""
        parts = _PLACEHOLDER.split(self.path)
        out = []
        for index, part in enumerate(parts):
            if index % 2:
                if part not in PLACEHOLDERS:
                    raise ValueError(f"path {self.path}: unknown placeholder {{{part}}}")
                out.append(f"(?P<{part}>{PLACEHOLDERS[part]})")
            else:
                out.append(re.escape(part))
        return re.compile("".join(out) + r"\Z")

    def matches(self, method: str) -> bool:
        """True when ``method`` is one of this route's."""
        return "*" in self.methods or method in self.methods


class Policy(_Strict):
    """The whole file."""

    version: Literal[1]
    max_body_bytes: int = Field(gt=0, le=64 * 1024 * 1024)
    min_api_version: str = Field(pattern=r"^[0-9]{1,2}\.[0-9]{1,3}$")
    booleans: list[str] = Field(default=[], description="YAML anchor holder, not read.")
    routes: list[Route]
    checks: dict[str, Check]

    @model_validator(mode="after")
    def _references(self) -> Policy:
        for route in self.routes:
            route.regex()
            names = [route.body] if route.body else []
            names += [c.json_ for c in route.query.values() if c.json_]
            for name in names:
                if name not in self.checks:
                    raise ValueError(f"route {route.name}: no check named {name!r}")
            if route.deny and (route.query or route.body or route.owned or route.owned_filter):
                raise ValueError(f"route {route.name}: a deny route has no checks")
            if route.owned and not {"container", "service"} & placeholders_of(route.path):
                raise ValueError(f"route {route.name}: owned needs a {{container}} or {{service}}")
            if route.owned_filter and "filters" not in route.query:
                raise ValueError(f"route {route.name}: owned_filter needs a filters query")
        return self

    @property
    def min_version(self) -> tuple[int, int]:
        """``min_api_version`` as a tuple."""
        major, minor = self.min_api_version.split(".")
        return int(major), int(minor)


def _expand(value: Any, settings: dict[str, Any], *, regex: bool = False) -> Any:
    """``value`` with ``${name}`` replaced by the setting (lists spliced into lists)."""
    if isinstance(value, str):

        def one(match: re.Match[str]) -> str:
            name = match[1]
            if name not in settings or isinstance(settings[name], list):
                raise PolicyError(f"${{{name}}} is not a text setting of the proxy")
            text = str(settings[name])
            return re.escape(text) if regex else text

        return _SETTING.sub(one, value)
    if isinstance(value, list):
        out: list[Any] = []
        for item in value:
            whole = _SETTING.fullmatch(item) if isinstance(item, str) else None
            if whole and isinstance(settings.get(whole[1]), list):
                out.extend(settings[whole[1]])
            else:
                out.append(_expand(item, settings, regex=regex))
        return out
    if isinstance(value, dict):
        return {
            _expand(key, settings): _expand(item, settings, regex=regex or key == "pattern")
            for key, item in value.items()
        }
    return value


def read_policy(path: Path | None = None) -> dict[str, Any]:
    """The raw mapping of ``path`` (default: the packaged ``policy.yaml``)."""
    try:
        if path is None:
            text = resources.files(__package__).joinpath("policy.yaml").read_text("utf-8")
        else:
            text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(text)
    except (OSError, yaml.YAMLError) as exc:
        raise PolicyError(f"cannot read the policy {path or 'policy.yaml'}: {exc}") from exc
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a mapping")
    return data


def load_policy(settings: ProxySettings, path: Path | None = None) -> Policy:
    """The validated policy, with the proxy's settings substituted."""
    raw = read_policy(path if path is not None else settings.policy_file)
    try:
        return Policy.model_validate(_expand(raw, settings.substitutions()))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise PolicyError(f"invalid policy: {where}: {first['msg']}") from exc
