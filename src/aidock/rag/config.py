"""RAG service configuration, read from the environment (pydantic-settings).

``RAG_DATA_DIR``, ``RAG_MAX_BODY_BYTES``, ``RAG_DEFAULT_COLLECTION``, ``RAG_TOP_K``,
``RAG_EMBEDDER`` (``wordllama``, the offline default; ``hashing``; ``openai``: the server's
``/embeddings``) and ``RAG_RETRIEVAL`` (``dense`` or ``hybrid``: dense + BM25). The LLM
settings keep the names OpenAI's own tools read: ``OPENAI_BASE_URL`` (any OpenAI-compatible
server: vLLM, llama.cpp's server, Ollama), ``OPENAI_API_KEY`` (or a file holding it,
``OPENAI_API_KEY_FILE``; optional, on-prem servers often have none),
``OPENAI_EMBEDDING_MODEL``, ``OPENAI_CHAT_MODEL`` and ``OPENAI_TIMEOUT``. The LLM answers
when a base URL or a key is set; without either the service is offline. Arguments win over
the environment.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

log = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"


def _openai(name: str) -> AliasChoices:
    """The field ``name`` and its variable, ``OPENAI_...`` without the ``RAG_`` prefix."""
    return AliasChoices(name, name.upper())


class RagConfig(BaseSettings):
    """Settings of the RAG service (the module docstring names the variables)."""

    model_config = SettingsConfigDict(
        env_prefix="RAG_", env_ignore_empty=True, str_strip_whitespace=True, frozen=True
    )

    data_dir: Path = Path("/data")
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    default_collection: str = "docs"
    top_k: int = Field(default=3, ge=1, le=20)
    embedder: Literal["wordllama", "hashing", "openai"] = "wordllama"
    retrieval: Literal["dense", "hybrid"] = "dense"
    openai_api_key_file: Path | None = Field(
        default=None, validation_alias=_openai("openai_api_key_file"), repr=False
    )
    openai_api_key: str | None = Field(
        default=None, validation_alias=_openai("openai_api_key"), repr=False
    )
    openai_base_url: str | None = Field(default=None, validation_alias=_openai("openai_base_url"))
    openai_embedding_model: str = Field(
        default=DEFAULT_EMBEDDING_MODEL, validation_alias=_openai("openai_embedding_model")
    )
    openai_chat_model: str = Field(
        default=DEFAULT_CHAT_MODEL, validation_alias=_openai("openai_chat_model")
    )
    openai_timeout: float = Field(default=30.0, gt=0, validation_alias=_openai("openai_timeout"))
    openai_max_retries: int = Field(
        default=1, ge=0, le=5, validation_alias=_openai("openai_max_retries")
    )

    @field_validator("openai_api_key")
    @classmethod
    def _key_or_key_file(cls, key: str | None, info: ValidationInfo) -> str | None:
        """The key itself, else the content of ``openai_api_key_file``, else None."""
        if key:
            return key
        return read_key_file(info.data.get("openai_api_key_file"))

    @property
    def uses_llm(self) -> bool:
        """True when answers come from an LLM server (a base URL or a key is configured)."""
        return bool(self.openai_base_url or self.openai_api_key)

    @property
    def llm_base_url(self) -> str:
        """The configured base URL, else OpenAI's."""
        return self.openai_base_url or DEFAULT_OPENAI_BASE_URL

    @classmethod
    def from_env(cls) -> RagConfig:
        """The settings of the environment (``RagConfig()``: no argument overrides them)."""
        return cls()


def read_key_file(path: str | Path | None) -> str | None:
    """The stripped content of ``path``; None without a path, for an empty file or an
    unreadable one (logged: the service then runs offline)."""
    if not path:
        return None
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        log.warning("OPENAI_API_KEY_FILE %s is not readable (%s): running offline", path, exc)
        return None
    return key or None


def read_api_key(env: Mapping[str, str]) -> str | None:
    """Return OPENAI_API_KEY, else the stripped content of OPENAI_API_KEY_FILE, else None."""
    return env.get("OPENAI_API_KEY", "").strip() or read_key_file(
        env.get("OPENAI_API_KEY_FILE", "").strip()
    )
