"""Minimal OpenAI-compatible API client (embeddings and chat) over ``requests``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aidock.client.http import ApiClient, ClientError

EMBED_BATCH = 128
_OPENAI_RETRY = frozenset({429, 500, 502, 503, 504})


class OpenAIError(Exception):
    """The OpenAI API failed or answered something unusable."""


class OpenAIClient:
    """Calls ``{base_url}/embeddings`` and ``{base_url}/chat/completions``."""

    def __init__(
        self, api_key: str, base_url: str, *, timeout: float = 30.0, retries: int = 2
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api = ApiClient(
            self.base_url,
            timeout=timeout,
            retries=retries,
            retry_statuses=_OPENAI_RETRY,
            headers={"Authorization": f"Bearer {api_key}"},
        )

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIClient(base_url={self.base_url!r})"

    def _post(self, path: str, payload: dict[str, Any]) -> Any:
        try:
            return self._api.post_json(path, payload, idempotent=True)
        except ClientError as exc:
            raise OpenAIError(f"OpenAI API {self._api.url(path)} failed: {exc}") from exc

    def embed(self, texts: Sequence[str], model: str) -> list[list[float]]:
        """Embed ``texts`` (batched), preserving order."""
        out: list[list[float]] = []
        for start in range(0, len(texts), EMBED_BATCH):
            batch = list(texts[start : start + EMBED_BATCH])
            body = self._post("embeddings", {"model": model, "input": batch})
            try:
                items = sorted(body["data"], key=lambda d: int(d["index"]))
                vectors = [[float(x) for x in item["embedding"]] for item in items]
            except (KeyError, TypeError, ValueError) as exc:
                raise OpenAIError(f"unexpected embeddings answer: {exc!r}") from exc
            if len(vectors) != len(batch):
                raise OpenAIError(f"asked {len(batch)} embeddings, got {len(vectors)}")
            out.extend(vectors)
        return out

    def chat(self, messages: list[dict[str, str]], model: str, temperature: float = 0.0) -> str:
        """Return the content of the first chat completion choice."""
        body = self._post(
            "chat/completions",
            {"model": model, "messages": messages, "temperature": temperature},
        )
        try:
            content = body["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError) as exc:
            raise OpenAIError(f"unexpected chat answer: {exc!r}") from exc
        if not isinstance(content, str):
            raise OpenAIError("chat answer has no text content")
        return content.strip()
