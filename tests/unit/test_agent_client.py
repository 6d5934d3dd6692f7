"""``aidock.agent.client``: the token file reader shared by the agent and its clients."""

from __future__ import annotations

from pathlib import Path

import pytest

from aidock.agent.client import MIN_TOKEN_CHARS, TokenError, read_token


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
