"""``AgentClient``: the agent API over ``ApiClient`` (retries, backoff, clear errors).

Also ``read_token``, the one reader of the bearer-token file, shared by the agent (which
checks the token) and its clients (which send it). Nothing here imports the agent's
settings, Docker or Flask.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import quote

from pydantic import ValidationError

from aidock.client.http import ApiClient, ApiError
from aidock.schemas.agent import AiList, AiOut, InstanceList, InstanceOut

DEFAULT_AGENT_URL = "http://127.0.0.1:8700"
AGENT_URL_ENV = "AIDOCK_AGENT_URL"
TOKEN_FILE_ENV = "AIDOCK_AGENT_TOKEN_FILE"
MIN_TOKEN_CHARS = 16


class TokenError(ValueError):
    """A token file that cannot be read, is empty or holds no acceptable token."""


def read_token(path: Path | str) -> str:
    """The token in ``path`` (stripped); at least ``MIN_TOKEN_CHARS`` characters."""
    try:
        token = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise TokenError(f"token_file: cannot read {path}: {exc.strerror or exc}") from exc
    if not token:
        raise TokenError(f"token_file: {path} is empty")
    if len(token) < MIN_TOKEN_CHARS or any(c.isspace() for c in token):
        raise TokenError(
            f"token_file: the token in {path} must be at least {MIN_TOKEN_CHARS} characters "
            "without whitespace"
        )
    return token


class AgentClient:
    """Client of the agent.

    Reads retry connection errors and 502/503/504. A start request waits up to
    ``start_timeout`` for the answer (the agent answers once the AI is ready) and is
    retried only on connection errors, never after a 502/504: each of those means a
    start that failed and whose container the agent already removed. A termination is
    retried ``terminate_retries`` times on connection errors and 502/503/504, with backoff
    from ``terminate_backoff`` seconds up to 10 (about 80 s by default): while dockerd
    restarts the agent answers 503, and a container is removed only once Docker answers.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        timeout: float = 10.0,
        start_timeout: float = 900.0,
        retries: int = 3,
        backoff: float = 0.5,
        terminate_retries: int = 10,
        terminate_backoff: float = 1.0,
    ) -> None:
        headers = {"Authorization": f"Bearer {token}"}
        self.api = ApiClient(
            url, timeout=timeout, retries=retries, backoff=backoff, headers=headers
        )
        self.terminate_api = ApiClient(
            url,
            timeout=timeout,
            retries=terminate_retries,
            backoff=terminate_backoff,
            max_backoff=10.0,
            headers=headers,
        )
        self.start_api = ApiClient(
            url,
            timeout=start_timeout,
            retries=retries,
            backoff=backoff,
            retry_statuses=(),
            headers=headers,
        )
        self.url = self.api.base_url

    @staticmethod
    def _path(instance_id: str) -> str:
        return f"/v1/instances/{quote(instance_id, safe='')}"

    def _instance(self, body: Any) -> InstanceOut:
        try:
            return InstanceOut.model_validate(body)
        except ValidationError as exc:
            raise ApiError(
                200, f"the agent's answer is not an instance: {exc}", None, self.url
            ) from exc

    def request_instance(self, ai: str, version: str, replicas: int = 1) -> InstanceOut:
        """Start ``ai`` at ``version`` (``replicas``: swarm backend); returns once ready."""
        payload: dict[str, Any] = {"ai": ai, "version": version}
        if replicas != 1:  # an agent without replicas in its API still takes the request
            payload["replicas"] = replicas
        return self._instance(self.start_api.post_json("/v1/instances", payload))

    def scale(self, instance_id: str, replicas: int) -> InstanceOut:
        """Set the replicas of a swarm instance; returns once all are ready."""
        body = self.start_api.request_json(
            "PATCH", self._path(instance_id), json={"replicas": replicas}
        )
        return self._instance(body)

    def get(self, instance_id: str) -> InstanceOut:
        """One instance (also a keep-alive for the agent's idle TTL)."""
        return self._instance(self.api.get_json(self._path(instance_id)))

    def list(self) -> list[InstanceOut]:
        """All instances of the agent."""
        body = self.api.get_json("/v1/instances")
        try:
            return InstanceList.model_validate(body).instances
        except ValidationError as exc:
            raise ApiError(200, f"the agent's answer is not a list: {exc}", None, self.url) from exc

    def ais(self) -> AiList:
        """The AI catalog (the registry's AIs and versions, usable or not)."""
        body = self.api.get_json("/v1/ais")
        try:
            return AiList.model_validate(body)
        except ValidationError as exc:
            raise ApiError(
                200, f"the agent's answer is not a catalog: {exc}", None, self.url
            ) from exc

    def ai(self, name: str) -> AiOut:
        """One AI of the catalog with every version."""
        body = self.api.get_json(f"/v1/ais/{quote(name, safe='')}")
        try:
            return AiOut.model_validate(body)
        except ValidationError as exc:
            raise ApiError(200, f"the agent's answer is not an AI: {exc}", None, self.url) from exc

    def terminate(self, instance_id: str, *, missing_ok: bool = False) -> bool:
        """Stop and remove the instance; False when it was unknown and ``missing_ok``.

        Retried (see the class); a 404 after a 503 means that the agent removed the
        container itself once Docker answered again.
        """
        try:
            self.terminate_api.request_json("DELETE", self._path(instance_id))
        except ApiError as exc:
            if missing_ok and exc.status == 404:
                return False
            raise
        return True
