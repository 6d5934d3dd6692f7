"""``InstanceHolder``: how long it waits for an agent that cannot start an instance yet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aidock.cli import EXIT_UNREACHABLE
from aidock.client.http import ApiClient, ApiError
from aidock.worker.instance import BatchAborted, InstanceHolder


def test_an_agent_that_keeps_answering_503_ends_the_wait(tmp_path: Path) -> None:
    class Refusing:
        calls = 0

        def request_instance(self, ai: str, version: str) -> Any:
            self.calls += 1
            raise ApiError(503, "the Docker daemon did not answer", None, "http://agent")

    agent = Refusing()
    holder = InstanceHolder(agent, "rag", "0.1.0", ApiClient, outage_wait=1.5)  # type: ignore[arg-type]
    with pytest.raises(BatchAborted) as info:
        holder.replace(0, "the AI died")
    assert info.value.exit_code == EXIT_UNREACHABLE and "(HTTP 503)" in info.value.message
    assert agent.calls == 2  # asked again after 1 s, not after 1 + 2 s
    with pytest.raises(BatchAborted):
        holder.acquire()  # the first request of a batch does not wait
    assert agent.calls == 3
