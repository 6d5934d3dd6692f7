"""WSGI entry point: ``gunicorn --workers 1 --threads 16 aidock.agent.wsgi:app``.

Settings come from ``AIDOCK_AGENT_CONFIG`` and ``AIDOCK_AGENT_*`` (see ``aidock.agent.config``).
Exactly one worker process: the registry of instances lives in memory. The manager starts
(network, adoption, reaper) in the process serving the first request, so the module is
safe to import before gunicorn forks. Give gunicorn a ``--timeout`` above the longest
start timeout plus pull time: a start request is answered only once the AI is ready.

When Docker stays silent past ``docker_lost_after`` the worker process exits with status 3,
gunicorn's "worker failed to boot": the master stops too and exits 3, so that the
container's restart policy starts a new agent (Docker does not restart a container for
being unhealthy), which adopts the AIs that survived.
"""

from __future__ import annotations

import logging
import os
import sys

from aidock.agent.app import create_app

EXIT_DOCKER_LOST = 3  # gunicorn's WORKER_BOOT_ERROR: the master halts with it

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def exit_process(down_for: float) -> None:
    """End this process at once (the supervisor thread calls it; instances keep running)."""
    logging.getLogger(__name__).error(
        "exiting with status %d after %.0fs without Docker", EXIT_DOCKER_LOST, down_for
    )
    sys.stderr.flush()
    os._exit(EXIT_DOCKER_LOST)


app = create_app(init="first_request", on_docker_lost=exit_process)
