"""The policy file: valid as shipped, settings substituted, mistakes reported by place."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from dockerproxy_sdk import settings

from aidock.dockerproxy.policy import PolicyError, load_policy, read_policy


def test_packaged_policy_loads_with_the_settings() -> None:
    policy = load_policy(settings(registry="registry.site:5443", networks=["ai-a", "ai-b"]))
    create = policy.checks["container-create"].fields or {}
    assert create["Image"].pattern is not None
    assert create["Image"].pattern.startswith(r"registry\.site:5443/aidock/")
    host = create["HostConfig"].fields or {}
    assert host["NetworkMode"].one_of == ["ai-a", "ai-b"]
    labels = create["Labels"].fields or {}
    assert labels["ai.aidock.owner"].equals == "aidock-agent"


def test_every_route_ends_in_allow_or_a_named_refusal() -> None:
    policy = load_policy(settings())
    names = {route.name for route in policy.routes}
    assert {"deny-exec", "deny-volumes", "deny-swarm", "container-create", "image-pull"} <= names
    for route in policy.routes:
        if route.owned:
            assert "{container}" in route.path or "{service}" in route.path


def _write(tmp_path: Path, change: dict[str, object]) -> Path:
    data = read_policy()
    data.update(change)
    path = tmp_path / "policy.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"routes": [{"name": "x", "path": "/x", "body": "missing"}]}, "no check named"),
        ({"routes": [{"name": "x", "path": "/x/{nope}"}]}, "unknown placeholder"),
        ({"routes": [{"name": "x", "path": "/x", "methods": ["FETCH"]}]}, "routes.0.methods"),
        ({"max_body_bytes": 0}, "max_body_bytes"),
        ({"surprise": 1}, "surprise"),
        ({"checks": {"a": {"pattern": "("}}}, "pattern"),
        ({"checks": {"a": {"equals": "${nope}"}}}, "${nope}"),
    ],
)
def test_invalid_policy_is_reported(tmp_path: Path, change: dict[str, object], where: str) -> None:
    with pytest.raises(PolicyError, match=None) as caught:
        load_policy(settings(), _write(tmp_path, change))
    assert where in str(caught.value)
