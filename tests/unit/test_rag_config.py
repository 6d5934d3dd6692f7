"""RagConfig from the environment (pydantic-settings); tests/unit/conftest.py clears it first."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from aidock.rag.config import DEFAULT_OPENAI_BASE_URL, RagConfig


def test_defaults() -> None:
    config = RagConfig.from_env()
    assert config.data_dir == Path("/data")
    assert config.max_body_bytes == 1_000_000
    assert config.default_collection == "docs"
    assert config.top_k == 3
    assert config.openai_api_key is None
    assert config.openai_base_url is None
    assert config.llm_base_url == DEFAULT_OPENAI_BASE_URL
    assert config.embedder == "wordllama"
    assert config.retrieval == "dense"
    assert not config.uses_llm


def test_values_from_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var, value in {
        "RAG_DATA_DIR": str(tmp_path),
        "RAG_MAX_BODY_BYTES": "2048",
        "RAG_DEFAULT_COLLECTION": "handbook",
        "RAG_TOP_K": "5",
        "OPENAI_API_KEY": " sk-test ",
        "OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
        "OPENAI_EMBEDDING_MODEL": "emb-model",
        "OPENAI_CHAT_MODEL": "chat-model",
        "RAG_EMBEDDER": "hashing",
        "RAG_RETRIEVAL": "hybrid",
    }.items():
        monkeypatch.setenv(var, value)
    config = RagConfig.from_env()
    assert config.data_dir == tmp_path
    assert config.max_body_bytes == 2048
    assert config.default_collection == "handbook"
    assert config.top_k == 5
    assert config.openai_api_key == "sk-test"
    assert config.openai_base_url == "http://127.0.0.1:9/v1"
    assert config.openai_embedding_model == "emb-model"
    assert config.openai_chat_model == "chat-model"
    assert (config.embedder, config.retrieval) == ("hashing", "hybrid")
    assert config.uses_llm
    assert "sk-test" not in repr(config)


def test_a_base_url_without_a_key_uses_the_llm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    config = RagConfig.from_env()
    assert config.openai_api_key is None
    assert config.uses_llm
    assert config.llm_base_url == "http://127.0.0.1:9/v1"


def test_arguments_win_and_only_the_documented_names_are_read(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("RAG_TOP_K", "5")
    monkeypatch.setenv("RAG_OPENAI_BASE_URL", "http://not-read/v1")
    assert RagConfig(top_k=7).top_k == 7
    assert RagConfig().openai_base_url is None


@pytest.mark.parametrize(
    ("content", "expected"), [("sk-from-file\n", "sk-from-file"), ("  \n", None), ("", None)]
)
def test_key_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, content: str, expected: str | None
) -> None:
    key_file = tmp_path / "key"
    key_file.write_text(content)
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(key_file))
    assert RagConfig.from_env().openai_api_key == expected


def test_missing_key_file_means_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY_FILE", str(tmp_path / "absent"))
    assert RagConfig.from_env().openai_api_key is None


def test_invalid_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAG_TOP_K", "50")
    with pytest.raises(ValidationError, match="top_k"):
        RagConfig.from_env()
