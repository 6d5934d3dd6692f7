"""The instance manager's watch over Docker (``InstanceManager`` inherits it).

The policy is the manager's ("Docker outages" in ``aidock.agent.instances``): ping every
``docker_check_interval`` seconds, resync once Docker answers again, give up past
``docker_lost_after`` so that the agent's restart policy starts it anew. Kept apart so that
the manager's module stays readable.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

from aidock.agent.errors import DockerUnavailable

if TYPE_CHECKING:
    from aidock.agent.config import AgentConfig
    from aidock.agent.instance import ContainerOps, Instance, LostHandler, ReconcileReport

log = logging.getLogger("aidock.agent.instances")


class DockerSupervision:
    """Docker reachability: outage bookkeeping and the supervisor thread's loop."""

    config: AgentConfig
    ops: ContainerOps
    clock: Callable[[], float]
    on_docker_lost: LostHandler | None
    _synced: bool
    _down_since: float | None
    _lost_reported: bool
    _stop: threading.Event

    def resync(self) -> ReconcileReport:
        raise NotImplementedError

    def reap(self) -> list[str]:
        raise NotImplementedError

    def list(self) -> list[Instance]:
        raise NotImplementedError

    def _docker_down(self) -> None:
        self._synced = False
        if self._down_since is None:
            self._down_since = self.clock()
            log.warning(
                "Docker does not answer: running instances go on; starts and terminations "
                "wait for it (the agent exits after %gs without an answer)",
                self.config.docker_lost_after,
            )

    def docker_down_for(self) -> float:
        """Seconds since Docker stopped answering (0 while it answers)."""
        since = self._down_since
        return 0.0 if since is None else max(0.0, self.clock() - since)

    def check_docker(self) -> bool:
        """Ping Docker; once it answers after an outage, ``resync``. True when it answers."""
        if not self.ops.ping():
            self._docker_down()
            return False
        down = self.docker_down_for()
        if not self._synced:
            try:
                report = self.resync()
            except DockerUnavailable:  # pings, but does not work yet: still down
                self._docker_down()
                return False
            if down:
                log.info(
                    "Docker answers again after %.0fs: %d instances kept, removed: %s",
                    down,
                    len(self.list()),
                    ", ".join(report.removed) or "none",
                )
        self._down_since = None
        self._lost_reported = False
        return True

    def _lost(self) -> bool:
        """True when Docker stayed silent past ``docker_lost_after`` and the handler ran."""
        grace = self.config.docker_lost_after
        down = self.docker_down_for()
        if grace <= 0 or down < grace or self._lost_reported:
            return False
        self._lost_reported = True
        log.error(
            "Docker has not answered for %.0fs (docker_lost_after %gs): giving up, so that "
            "the agent's container is restarted",
            down,
            grace,
        )
        if self.on_docker_lost is None:
            return False
        self.on_docker_lost(down)
        return True

    def _supervise(self) -> None:
        tick = min(self.config.docker_check_interval, self.config.reap_interval)
        next_reap = self.clock() + self.config.reap_interval
        while not self._stop.wait(tick):
            try:
                up = self.check_docker()
            except Exception:
                log.exception("checking Docker failed")
                continue
            if not up:
                if self._lost():
                    return
                continue
            if self.clock() >= next_reap:
                next_reap = self.clock() + self.config.reap_interval
                try:
                    self.reap()
                except DockerUnavailable as exc:
                    log.warning("reaper pass: %s", exc.message)
                    self._docker_down()
                except Exception:
                    log.exception("reaper pass failed")
