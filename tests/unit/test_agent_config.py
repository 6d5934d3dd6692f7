"""Agent settings: file + environment, validation, image reference policy, secrets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from aidock.agent.config import AgentConfig, AiSpec, ConfigError
from aidock.agent.errors import ImageRefused, InvalidField, UnknownAi


def test_defaults_are_loopback_with_the_shipped_catalog() -> None:
    config = AgentConfig.load(env={})
    assert config.endpoint_mode == "loopback"
    assert config.internal_network is False
    assert set(config.catalog) == {"rag", "extraction", "categorization"}
    rag = config.catalog["rag"]
    assert (rag.port, rag.ready_path, rag.schema_version) == (5001, "/readyz", "rag/v1")
    assert rag.tmpfs["/data"].startswith("uid=10001,gid=10001,mode=0700")
    assert config.catalog["extraction"].port == 3000
    assert config.catalog["categorization"].schema_version == "categorization/v1"
    assert config.start_timeout_of("rag") == config.start_timeout


def test_network_mode_defaults_to_an_internal_network() -> None:
    assert AgentConfig(endpoint_mode="network").internal_network is True
    assert AgentConfig(endpoint_mode="network", network_internal=False).internal_network is False


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_yaml_file_with_catalog_then_environment_overrides(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "agent.yaml",
        """
owner_id: site-a
registry: registry.bank.local:5000
max_instances: 2
catalog:
  ocr:
    port: 8080
    ready_path: /health/ready
    start_timeout: 300
    memory: 2g
    cpus: 2
    pids: 128
    schema_version: ocr/v2
    tmpfs: {/tmp: "size=32m"}
""",
    )
    env = {"AIDOCK_AGENT_MAX_INSTANCES": "7", "AIDOCK_AGENT_ENDPOINT_MODE": "network"}
    config = AgentConfig.load(path, env)
    assert config.owner_id == "site-a"
    assert config.max_instances == 7
    assert config.endpoint_mode == "network"
    assert list(config.catalog) == ["ocr"]
    assert config.start_timeout_of("ocr") == 300
    assert config.catalog["ocr"].nano_cpus == 2_000_000_000


def test_json_file_named_by_the_environment(tmp_path: Path) -> None:
    path = _write(tmp_path, "agent.json", json.dumps({"namespace": "ai/prod", "idle_ttl": 0}))
    config = AgentConfig.load(env={"AIDOCK_AGENT_CONFIG": str(path)})
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
        ({"catalog": {"Bad/Name": {"port": 1, "schema_version": "x/v1"}}}, "catalog"),
        ({"catalog": {"x": {"port": 0, "schema_version": "x/v1"}}}, "catalog.x.port"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x"}}}, "catalog.x.schema_version"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x/v1", "memory": "lots"}}}, "memory"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x/v1", "tmpfs": {"tmp": ""}}}}, "tmpfs"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x/v1", "ready_path": "r"}}}, "ready"),
        ({"catalog": {"x": {"port": 1, "schema_version": "x/v1", "extra": 1}}}, "extra"),
        ({"endpoint_mode": "loopback", "network_internal": True}, "network_internal"),
        ({"registry_username": "aidock"}, "registry_password_file"),
        ({"unknown_setting": 1}, "unknown_setting"),
    ],
)
def test_invalid_settings_name_the_field(
    tmp_path: Path, values: dict[str, Any], field: str
) -> None:
    path = _write(tmp_path, "agent.json", json.dumps(values))
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        AgentConfig.load(path, {})


def test_invalid_environment_value_is_reported() -> None:
    with pytest.raises(ConfigError, match="max_instances"):
        AgentConfig.load(env={"AIDOCK_AGENT_MAX_INSTANCES": "many"})


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
        AgentConfig.load(path, {})


def test_empty_yaml_means_defaults(tmp_path: Path) -> None:
    assert AgentConfig.load(_write(tmp_path, "a.yml", ""), {}) == AgentConfig()


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


def test_unknown_ai_and_bad_tag() -> None:
    with pytest.raises(UnknownAi, match="catalog has: categorization, extraction, rag"):
        AgentConfig().image_for("ocr", "1")
    with pytest.raises(InvalidField) as info:
        AgentConfig().image_for("rag", "-1")
    assert (info.value.status, info.value.field) == (422, "version")


def test_ai_spec_is_strict() -> None:
    spec = AiSpec(port=3000, schema_version="extraction/v1")
    assert spec.tmpfs == {"/tmp": "size=64m,mode=1777"}
    with pytest.raises(ValueError, match="env"):
        AiSpec(port=3000, schema_version="extraction/v1", env={"1BAD": "x"})
