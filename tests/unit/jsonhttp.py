"""A quiet ``http.server`` handler that answers JSON: the base of the fake HTTP servers (AIs, an
OpenAI-compatible LLM) the unit tests run on 127.0.0.1 with the ``http_server`` fixture."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    """No request log on stderr; ``_send(status, body)`` writes ``body`` as JSON."""

    def log_message(self, *_: Any) -> None:
        pass

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
