"""``aidock.agent.client``: the token file reader shared by the agent and its clients, and
``AgentClient`` against the real agent app (Docker faked, ``worker_agent``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from test_agent_fakes import TOKEN
from worker_agent import running_agent, write_token

from aidock.agent.client import MIN_TOKEN_CHARS, AgentClient, TokenError, read_token
from aidock.client.http import ApiError


def test_token_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text("abcdefghijklmnop0123\n", encoding="utf-8")
    assert read_token(path) == "abcdefghijklmnop0123"
    assert MIN_TOKEN_CHARS == 16


@pytest.mark.parametrize(
    ("text", "message"),
    [("", "is empty"), ("short", "at least 16"), ("with space inside 0123456", "whitespace")],
)
def test_bad_tokens_are_refused(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "token"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(TokenError, match=message):
        read_token(path)


def test_unreadable_token_file() -> None:
    with pytest.raises(TokenError, match="token_file: cannot read"):
        read_token("/nonexistent/token")


def test_agent_client(tmp_path: Path, wsgi_server: Any) -> None:
    with running_agent(write_token(tmp_path), wsgi_server) as agent:
        client = AgentClient(agent.url, TOKEN, retries=0)
        first = client.request_instance("rag", "0.1.0")
        second = client.request_instance("rag", "0.1.0")
        assert [i.id for i in client.list()] == [first.id, second.id]
        assert client.get(first.id).endpoint == first.endpoint
        with pytest.raises(ApiError) as info:
            client.request_instance("rag", "0.1.0")
        assert info.value.status == 429 and "max_instances (2) reached" in info.value.message
        assert client.terminate(first.id) is True
        assert client.terminate(first.id, missing_ok=True) is False
        with pytest.raises(ApiError) as info:
            client.terminate(first.id)
        assert (info.value.status, info.value.field) == (404, "id")
        client.terminate(second.id)
        assert agent.ops.containers == {}
