"""Talking to an OpenAI-compatible LLM server (OpenAI, vLLM, llama.cpp's server, Ollama).

Through the official ``openai`` package (it replaced a hand-written ``requests`` client: one
maintained implementation of the wire format, its errors and its retries). The key is
optional: on-prem servers often run without one, and then no ``Authorization`` header is
sent. Every failure (HTTP status, connection, timeout, an unusable answer) becomes an
``LLMError`` whose message names the server; the service decides what to do with it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import openai

from aidock.rag.config import RagConfig

EMBED_BATCH = 128
# The openai package refuses to start without a key: it gets a placeholder, and every
# request omits the Authorization header explicitly (the package's documented opt-out).
_NO_KEY = "no-key"


class LLMError(Exception):
    """The LLM server failed, timed out or answered something unusable."""


class LLMClient:
    """Embeddings and chat completions of one OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 1,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._headers: dict[str, Any] | None = None if api_key else {"Authorization": openai.Omit()}
        self._client = openai.OpenAI(
            api_key=api_key or _NO_KEY,
            base_url=self.base_url,
            timeout=timeout,
            max_retries=max_retries,
        )

    @classmethod
    def from_config(cls, config: RagConfig) -> LLMClient:
        """The client of the configured server (``OPENAI_BASE_URL``, key optional)."""
        return cls(
            config.llm_base_url,
            config.openai_api_key,
            timeout=config.openai_timeout,
            max_retries=config.openai_max_retries,
        )

    def __repr__(self) -> str:  # never show the key
        return f"LLMClient(base_url={self.base_url!r})"

    def _fail(self, what: str, exc: Exception) -> LLMError:
        if isinstance(exc, openai.APITimeoutError):
            reason = "timed out"
        elif isinstance(exc, openai.APIStatusError):
            reason = f"HTTP {exc.status_code}: {_message(exc.body) or exc.message}"
        elif isinstance(exc, openai.APIConnectionError):
            reason = f"cannot connect ({exc.__cause__ or exc})"
        else:
            reason = str(exc)
        return LLMError(f"LLM server {self.base_url} {what} failed: {reason}")

    def embed(self, texts: Sequence[str], model: str) -> list[list[float]]:
        """Embed ``texts`` (batched), in order."""
        out: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            try:
                answer = self._client.embeddings.create(
                    model=model, input=batch, extra_headers=self._headers
                )
                items = sorted(answer.data, key=lambda item: item.index)
                vectors = [[float(x) for x in item.embedding] for item in items]
            except openai.OpenAIError as exc:
                raise self._fail("embeddings", exc) from exc
            except (AttributeError, TypeError, ValueError) as exc:
                raise LLMError(f"LLM server {self.base_url}: unusable embeddings: {exc}") from exc
            if len(vectors) != len(batch):
                raise LLMError(f"asked {len(batch)} embeddings, got {len(vectors)}")
            out.extend(vectors)
        return out

    def chat(self, messages: list[dict[str, str]], model: str) -> str:
        """The text of the first choice of a chat completion (temperature 0)."""
        try:
            answer = self._client.chat.completions.create(
                model=model,
                messages=messages,  # type: ignore[arg-type]
                temperature=0.0,
                extra_headers=self._headers,
            )
            content = answer.choices[0].message.content
        except openai.OpenAIError as exc:
            raise self._fail("chat", exc) from exc
        except (AttributeError, IndexError, TypeError) as exc:
            raise LLMError(f"LLM server {self.base_url}: unusable chat answer: {exc}") from exc
        if not isinstance(content, str):
            raise LLMError(f"LLM server {self.base_url}: chat answer has no text")
        return content.strip()


def _message(body: Any) -> str | None:
    """The ``error.message`` (or ``message``) of an error body, if any."""
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and isinstance(err.get("message"), str):
            return err["message"]
        if isinstance(body.get("message"), str):
            return body["message"]
    return None
