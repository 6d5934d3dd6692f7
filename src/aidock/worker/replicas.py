"""The replicas of one instance, as the worker spreads documents over them.

An instance of the agent's swarm backend lists every ready replica's base URL in
``endpoints`` (each task's address on the overlay network); a container instance has one.
``ReplicaPool`` keeps one ``ApiClient`` (one connection pool) per replica and leases the
least busy one for each call. A replica that stops answering is dropped; the agent's list,
read again by the keep-alive or when no replica is left, brings in the tasks Swarm started
elsewhere (a dropped address is let back only after ``readmit_after`` seconds, so a dead
task the agent still lists cannot bounce a document forever).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from aidock.client.http import ApiClient

READMIT_AFTER = 30.0


class NoReplica(Exception):
    """Every replica of the instance was dropped."""


@dataclass
class Replica:
    """One replica: its base URL, its client, calls in flight and calls made."""

    url: str
    api: ApiClient
    in_flight: int = 0
    calls: int = 0


class ReplicaPool:
    """Replicas of one instance; thread-safe."""

    def __init__(
        self,
        endpoints: list[str],
        make_api: Callable[[str], ApiClient],
        *,
        readmit_after: float = READMIT_AFTER,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.make_api = make_api
        self.readmit_after = readmit_after
        self.clock = clock
        self._lock = threading.Lock()
        self._replicas: dict[str, Replica] = {}
        self._dropped: dict[str, float] = {}
        self.calls: dict[str, int] = {}
        self.update(endpoints)

    def __len__(self) -> int:
        with self._lock:
            return len(self._replicas)

    @property
    def urls(self) -> list[str]:
        """The replicas' base URLs."""
        with self._lock:
            return list(self._replicas)

    def update(self, endpoints: list[str]) -> list[str]:
        """Match the agent's list: add new replicas, forget unlisted ones; the added URLs."""
        now = self.clock()
        added: list[str] = []
        with self._lock:
            for url in list(self._replicas):
                if url not in endpoints:
                    del self._replicas[url]
            for url in endpoints:
                dropped = self._dropped.get(url)
                if url in self._replicas or (
                    dropped is not None and now - dropped < self.readmit_after
                ):
                    continue
                self._dropped.pop(url, None)
                self._replicas[url] = Replica(url, self.make_api(url))
                added.append(url)
        return added

    def drop(self, url: str) -> bool:
        """Stop using ``url`` (it stopped answering); False when already dropped."""
        with self._lock:
            self._dropped[url] = self.clock()
            return self._replicas.pop(url, None) is not None

    @contextmanager
    def lease(self) -> Iterator[Replica]:
        """The least busy replica (fewest calls in flight, then fewest made) for one call."""
        with self._lock:
            if not self._replicas:
                raise NoReplica("every replica of the instance was dropped")
            replica = min(self._replicas.values(), key=lambda r: (r.in_flight, r.calls))
            replica.in_flight += 1
        try:
            yield replica
        finally:
            with self._lock:
                replica.in_flight -= 1
                replica.calls += 1
                self.calls[replica.url] = self.calls.get(replica.url, 0) + 1
