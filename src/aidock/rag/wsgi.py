"""WSGI entry point: ``gunicorn aidock.rag.wsgi:app`` (configuration from the environment).

The store is opened on the first request in each worker process (the health check's
``/readyz`` probe triggers it), so the module is safe to import before gunicorn forks
(``--preload``). Use one worker per data directory with threads (``--workers 1
--threads 8``): Chroma's persistent client is not safe for several processes.
"""

from __future__ import annotations

import logging

from aidock.rag.app import create_app

logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

app = create_app(init="first_request")
