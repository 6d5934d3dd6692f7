"""WSGI entry point: ``gunicorn --workers 1 --threads 16 aidock.agent.wsgi:app``.

Settings come from ``AIDOCK_AGENT_CONFIG`` and ``AIDOCK_AGENT_*`` (see ``aidock.agent.config``).
Exactly one worker process: the registry of instances lives in memory. The manager starts
(network, adoption, reaper) in the process serving the first request, so the module is
safe to import before gunicorn forks. Give gunicorn a ``--timeout`` above the longest
start timeout plus pull time: a start request is answered only once the AI is ready.
"""

from __future__ import annotations

import logging

from aidock.agent.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app(init="first_request")
