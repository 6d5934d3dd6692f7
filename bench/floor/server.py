"""Cold-start floor: a standard-library HTTP server answering 200 on /readyz (port 5001)."""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BODY = b'{"status": "ready"}\n'


class Handler(BaseHTTPRequestHandler):
    """GET /readyz and /healthz answer 200; everything else 404."""

    def do_GET(self) -> None:
        if self.path in ("/readyz", "/healthz"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.end_headers()
            self.wfile.write(BODY)
        else:
            self.send_error(404)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: no access log."""


if __name__ == "__main__":
    ThreadingHTTPServer(("0.0.0.0", 5001), Handler).serve_forever()
