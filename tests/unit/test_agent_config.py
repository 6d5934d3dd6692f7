"""Agent settings: file + environment, validation, image reference policy, secrets.

tests/unit/conftest.py clears every AIDOCK_AGENT_* variable before each test."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from aidock.agent.config import CONFIG_ENV, AgentConfig, ConfigError
from aidock.agent.errors import ImageRefused, InvalidField


def setenv(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    for var, value in env.items():
        monkeypatch.setenv(var, value)


def test_defaults_are_loopback_and_the_catalog_is_the_registry() -> None:
    config = AgentConfig.load()
    assert config.endpoint_mode == "loopback"
    assert config.internal_network is False
    assert "catalog" not in AgentConfig.model_fields  # no list of AIs in the agent's config
    assert config.registry_api == "https://localhost:5000"
    assert config.start_timeout_for(None) == config.start_timeout
    assert config.start_timeout_for(7.5) == 7.5


def test_registry_api_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = {
        "AIDOCK_AGENT_REGISTRY_URL": "https://aidock-registry:5000/",
        "AIDOCK_AGENT_REGISTRY_CA_FILE": str(tmp_path / "ca.crt"),
        "AIDOCK_AGENT_CATALOG_TTL": "3",
    }
    setenv(monkeypatch, env)
    config = AgentConfig.load()
    assert config.registry_api == "https://aidock-registry:5000"
    assert config.registry_ca_file == tmp_path / "ca.crt"
    assert config.catalog_ttl == 3


def test_network_mode_defaults_to_an_internal_network() -> None:
    assert AgentConfig(endpoint_mode="network").internal_network is True
    assert AgentConfig(endpoint_mode="network", network_internal=False).internal_network is False


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_file_then_environment_overrides(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(
        tmp_path,
        "agent.yaml",
        """
owner_id: site-a
registry: registry.bank.local:5000
max_instances: 2
catalog_ttl: 30
""",
    )
    env = {"AIDOCK_AGENT_MAX_INSTANCES": "7", "AIDOCK_AGENT_ENDPOINT_MODE": "network"}
    setenv(monkeypatch, env)
    config = AgentConfig.load(path)
    assert config.owner_id == "site-a"
    assert config.max_instances == 7
    assert config.endpoint_mode == "network"
    assert config.catalog_ttl == 30
    assert config.registry_api == "https://registry.bank.local:5000"


def test_json_file_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _write(tmp_path, "agent.json", json.dumps({"namespace": "ai/prod", "idle_ttl": 0}))
    monkeypatch.setenv(CONFIG_ENV, str(path))
    config = AgentConfig.load()
    assert config.namespace == "ai/prod"
    assert config.idle_ttl == 0


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"registry": "https://registry"}, "registry"),
        ({"registry": "Registry:5000"}, "registry"),
        ({"namespace": "../etc"}, "namespace"),
        ({"owner_id": "has space"}, "owner_id"),
        ({"max_instances": 0}, "max_instances"),
        ({"network": "host"}, "network"),
        ({"endpoint_mode": "public"}, "endpoint_mode"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x/v1"}}}, "catalog"),
        ({"registry_url": "ftp://registry"}, "registry_url"),
        ({"registry_url": "https://registry:5000/v2/"}, "registry_url"),
        ({"catalog_ttl": -1}, "catalog_ttl"),
        ({"endpoint_mode": "loopback", "network_internal": True}, "network_internal"),
        ({"registry_username": "aidock"}, "registry_password_file"),
        ({"unknown_setting": 1}, "unknown_setting"),
        ({"_secrets_dir": "/etc"}, "_secrets_dir"),  # a BaseSettings option, not a setting
    ],
)
def test_invalid_settings_name_the_field(
    tmp_path: Path, values: dict[str, Any], field: str
) -> None:
    path = _write(tmp_path, "agent.json", json.dumps(values))
    with pytest.raises(
        ConfigError, match=rf"from {re.escape(str(path))} and the environment: .*{field}"
    ):
        AgentConfig.load(path)


def test_invalid_environment_value_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDOCK_AGENT_MAX_INSTANCES", "many")
    with pytest.raises(ConfigError, match="from the environment: max_instances: "):
        AgentConfig.load()


@pytest.mark.parametrize(
    ("var", "field", "value", "expected"),
    [
        ("AIDOCK_AGENT_OWNER", "owner_id", "site-b", "site-b"),  # its name since the start
        ("AIDOCK_AGENT_OWNER_ID", "owner_id", "site-c", "site-c"),
        ("AIDOCK_AGENT_REAP_INTERVAL", "reap_interval", "5", 5.0),  # every setting has one
        ("AIDOCK_AGENT_NETWORK_INTERNAL", "network_internal", "false", False),
        ("AIDOCK_AGENT_MAX_INSTANCES", "max_instances", " 3 ", 3),  # blanks around it
        ("AIDOCK_AGENT_REGISTRY_USERNAME", "registry_username", "", None),  # empty: unset
    ],
)
def test_each_setting_has_a_variable_that_wins_over_the_file_and_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, var: str, field: str, value: str, expected: Any
) -> None:
    monkeypatch.setenv(var, value)
    path = _write(tmp_path, "agent.json", json.dumps({field: AgentConfig().model_dump()[field]}))
    assert getattr(AgentConfig.load(path), field) == expected
    if value:
        assert getattr(AgentConfig(**{field: AgentConfig().model_dump()[field]}), field) == expected


def test_variables_outside_the_settings_are_no_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIDOCK_AGENT_URL", "http://127.0.0.1:8700")  # the worker's, not ours
    monkeypatch.setenv("OWNER", "not-this")
    assert AgentConfig.load() == AgentConfig()
    assert AgentConfig().owner_id == "aidock-agent"


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("missing.yaml", None, "cannot read"),
        ("list.json", "[1, 2]", "must hold a mapping"),
        ("broken.json", "{", "not valid JSON"),
        ("broken.yaml", "a: [", "not valid YAML"),
    ],
)
def test_unusable_files(tmp_path: Path, name: str, text: str | None, message: str) -> None:
    path = tmp_path / name
    if text is not None:
        path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        AgentConfig.load(path)


def test_empty_yaml_means_defaults(tmp_path: Path) -> None:
    assert AgentConfig.load(_write(tmp_path, "a.yml", "")) == AgentConfig()


def test_secrets_come_from_files(tmp_path: Path) -> None:
    password = _write(tmp_path, "pw", "s3cret\n")
    token = _write(tmp_path, "token", "  abcdefghijklmnop0123\n")
    config = AgentConfig(
        registry_username="aidock", registry_password_file=password, token_file=token
    )
    assert config.registry_auth() == {"username": "aidock", "password": "s3cret"}
    assert config.api_token() == "abcdefghijklmnop0123"
    assert "s3cret" not in repr(config)
    assert AgentConfig().registry_auth() is None  # the daemon user's docker login applies


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("short", "at least 16"), ("with space inside 0123456", "whitespace")],
)
def test_bad_tokens_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        AgentConfig(token_file=_write(tmp_path, "token", text)).api_token()


def test_missing_token_file_setting() -> None:
    with pytest.raises(ConfigError, match="token_file: not set"):
        AgentConfig().api_token()
    with pytest.raises(ConfigError, match="cannot read"):
        AgentConfig(token_file=Path("/nonexistent/token")).api_token()


def test_image_for_builds_references_inside_registry_and_namespace() -> None:
    config = AgentConfig(registry="registry.bank.local:5000", namespace="ai/prod")
    ref = config.image_for("rag", "0.1.0")
    assert str(ref) == "registry.bank.local:5000/ai/prod/rag:0.1.0"
    assert ref.name == "registry.bank.local:5000/ai/prod/rag"


@pytest.mark.parametrize(
    ("ai", "version", "field"),
    [
        ("evil.example.com/aidock/rag", "0.1.0", "ai"),
        ("localhost:5000/other/rag", "0.1.0", "ai"),
        ("aidock/rag", "0.1.0", "ai"),
        ("../rag", "0.1.0", "ai"),
        ("rag:latest", "0.1.0", "ai"),
        ("rag@sha256", "0.1.0", "ai"),
        ("rag\\x", "0.1.0", "ai"),
        ("rag ", "0.1.0", "ai"),
        ("rag", "0.1.0/../../x", "version"),
        ("rag", "0.1.0@sha256:abcd", "version"),
        ("rag", "a:b", "version"),
        ("rag", "..", "version"),
        ("rag", "0.1\n", "version"),
    ],
)
def test_escaping_names_are_refused(ai: str, version: str, field: str) -> None:
    with pytest.raises(ImageRefused) as info:
        AgentConfig().image_for(ai, version)
    assert (info.value.status, info.value.field) == (403, field)


def test_any_well_formed_name_is_an_image_of_the_namespace_and_bad_ones_are_422() -> None:
    assert str(AgentConfig().image_for("ocr", "1")) == "localhost:5000/aidock/ocr:1"
    for ai, version, field in (
        ("rag", "-1", "version"),
        ("Bad_Name", "1", "ai"),
        ("x" * 41, "1", "ai"),
    ):
        with pytest.raises(InvalidField) as info:
            AgentConfig().image_for(ai, version)
        assert (info.value.status, info.value.field) == (422, field)
