"""RAG service configuration, read from the environment."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

log = logging.getLogger(__name__)

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
DEFAULT_EMBEDDING_MODEL = "text-embedding-3-small"
DEFAULT_CHAT_MODEL = "gpt-4o-mini"


class RagConfig(BaseModel):
    """Settings of the RAG service (see ``from_env`` for the variable names)."""

    model_config = ConfigDict(frozen=True)

    data_dir: Path = Path("/data")
    max_body_bytes: int = Field(default=1_000_000, ge=1)
    default_collection: str = "docs"
    top_k: int = Field(default=3, ge=1, le=20)
    openai_api_key: str | None = Field(default=None, repr=False)
    openai_base_url: str = DEFAULT_OPENAI_BASE_URL
    openai_embedding_model: str = DEFAULT_EMBEDDING_MODEL
    openai_chat_model: str = DEFAULT_CHAT_MODEL
    openai_timeout: float = Field(default=30.0, gt=0)

    @property
    def uses_openai(self) -> bool:
        """True when an OpenAI key is configured."""
        return bool(self.openai_api_key)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> RagConfig:
        """Build the config from environment variables (``os.environ`` by default)."""
        env = os.environ if env is None else env
        values: dict[str, object] = {}
        simple = {
            "RAG_DATA_DIR": "data_dir",
            "RAG_MAX_BODY_BYTES": "max_body_bytes",
            "RAG_DEFAULT_COLLECTION": "default_collection",
            "RAG_TOP_K": "top_k",
            "OPENAI_BASE_URL": "openai_base_url",
            "OPENAI_EMBEDDING_MODEL": "openai_embedding_model",
            "OPENAI_CHAT_MODEL": "openai_chat_model",
            "OPENAI_TIMEOUT": "openai_timeout",
        }
        for var, field in simple.items():
            raw = env.get(var, "").strip()
            if raw:
                values[field] = raw
        values["openai_api_key"] = read_api_key(env)
        return cls.model_validate(values)


def read_api_key(env: Mapping[str, str]) -> str | None:
    """Return OPENAI_API_KEY, else the stripped content of OPENAI_API_KEY_FILE, else None."""
    key = env.get("OPENAI_API_KEY", "").strip()
    if key:
        return key
    path = env.get("OPENAI_API_KEY_FILE", "").strip()
    if not path:
        return None
    try:
        key = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        log.warning("OPENAI_API_KEY_FILE %s is not readable (%s): running offline", path, exc)
        return None
    return key or None
