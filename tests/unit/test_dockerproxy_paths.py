"""Canonical request targets: what the Docker SDK sends passes, every other spelling is refused."""

from __future__ import annotations

import pytest

from aidock.dockerproxy.paths import TargetRefused, parse_target

MIN = (1, 41)


@pytest.mark.parametrize(
    ("raw", "version", "path"),
    [
        ("/_ping", None, "/_ping"),
        ("/v1.45/containers/json", (1, 45), "/containers/json"),
        (
            "/v1.45/images/localhost:5000/aidock/rag%40sha256:ab/json",
            (1, 45),
            "/images/localhost:5000/aidock/rag@sha256:ab/json",
        ),
        (
            "/v1.45/images/localhost:5000/aidock/rag@sha256:ab/json",
            (1, 45),
            "/images/localhost:5000/aidock/rag@sha256:ab/json",
        ),
    ],
)
def test_canonical_targets(raw: str, version: tuple[int, int] | None, path: str) -> None:
    target = parse_target(raw, MIN)
    assert (target.version, target.path) == (version, path)


@pytest.mark.parametrize(
    "raw",
    [
        "/v1.45/../containers/json",
        "/v1.45/containers/%2e%2e/json",
        "/v1.45/containers/%2E%2E/json",
        "/v1.45/containers/a%2fb/json",
        "/v1.45/containers/a%2Fb/json",
        "/v1.45/containers/%61/json",
        "/v1.45/images/x%40y%zz/json",
        "/v1.45/images/x%4/json",
        "/v1.45//containers/json",
        "/v1.45/containers/json/",
        "/v1.45/./containers/json",
        "/v1.45/containers\\x/json",
        "/v1.45/containers/x y/json",
        "/v1.45/containers/x\x00/json",
        "/v1.45/containers/\u00e9/json",
        "/v1.45/containers/x#frag",
        "containers/json",
        "http://docker/v1.45/containers/json",
        "/v1.45/containers/%25/json",
        "/v1.45/containers/.hidden/json",
    ],
)
def test_other_spellings_are_refused(raw: str) -> None:
    with pytest.raises(TargetRefused) as caught:
        parse_target(raw, MIN)
    assert caught.value.rule == "path-not-canonical"


def test_old_api_versions_are_refused() -> None:
    with pytest.raises(TargetRefused) as caught:
        parse_target("/v1.40/containers/json", MIN)
    assert caught.value.rule == "api-version"


def test_query_keys_at_most_once_and_re_encoded() -> None:
    target = parse_target("/v1.45/containers/json?all=1&filters=%7B%22a%22%3A+1%7D", MIN)
    assert target.query == {"all": "1", "filters": '{"a": 1}'}
    assert target.upstream() == "/v1.45/containers/json?all=1&filters=%7B%22a%22%3A+1%7D"
    with pytest.raises(TargetRefused):
        parse_target("/v1.45/containers/json?all=1&all=0", MIN)
    with pytest.raises(TargetRefused):
        parse_target("/v1.45/containers/json?all", MIN)
