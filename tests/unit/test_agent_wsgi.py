"""What the agent's container relies on: a gunicorn worker exiting with status 3 stops gunicorn.

``aidock.agent.wsgi`` ends its worker process with status 3 when Docker stays silent past
``docker_lost_after``; gunicorn's master then halts with the same status (its "worker failed
to boot"), the container exits and its restart policy starts a new agent.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

APP = """
import os
import threading

def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]

# What the agent's supervisor thread does once Docker is lost.
threading.Timer(0.5, os._exit, args=(3,)).start()
"""


def test_a_worker_exiting_with_status_3_stops_gunicorn_with_status_3(tmp_path: Path) -> None:
    (tmp_path / "lostapp.py").write_text(APP)
    command = [sys.executable, "-m", "gunicorn", "--bind", "127.0.0.1:0", "--workers", "1"]
    done = subprocess.run(
        [*command, "--chdir", str(tmp_path), "lostapp:app"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    assert "Worker failed to boot" in done.stderr
