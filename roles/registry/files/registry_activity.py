"""Wait until a running Distribution registry is quiet (no push); print one JSON line.

Runs inside the registry container (python3 of the base image, as the registry's own user), fed
on stdin by the registry role's tasks/gc-attempt.yml: `docker exec -i CTR python3 - WINDOW TIMEOUT`.
It watches two sources:

- the Prometheus metrics of the debug listener (127.0.0.1:5001/metrics): push requests in flight
  and push requests served (blob uploads, blob HEADs, manifest PUTs and DELETEs), so a long blob
  PATCH or a manifest PUT counts while it runs;
- the repository tree of the storage: the newest file written under `_uploads`, `_layers` or
  `_manifests` (upload sessions, layer links, manifest and tag links), so a push is seen even
  across a registry restart, which resets the metrics.

It returns once no push request was in flight or served and no such file was written for WINDOW
seconds, or after TIMEOUT seconds, and prints
{"quiet": bool, "waited": s, "in_flight": n, "push_requests": n, "last_write": epoch, "now": epoch}.
With WINDOW 0 it looks once (last_write tells whether anything was written since a moment).
"""

import json
import os
import re
import sys
import time
import urllib.request

METRICS_URL = "http://127.0.0.1:5001/metrics"
REPOSITORIES = "/var/lib/registry/docker/registry/v2/repositories"
# Routes (and methods) a push uses; pulls only GET manifests and blobs.
PUSH_ROUTES = {"blob_upload", "blob_upload_chunk"}
PUSH_METHODS = {"manifest": {"put", "delete"}, "blob": {"head", "delete"}}
SAMPLE_SECONDS = 0.5
LINE = re.compile(r"^registry_http_(in_flight_requests|requests_total)\{([^}]*)\}\s+(\S+)$")
LABEL = re.compile(r'(\w+)="([^"]*)"')


def push_metrics() -> tuple[int, int]:
    """Return (push requests in flight, push requests served) from the debug listener."""
    with urllib.request.urlopen(METRICS_URL, timeout=5) as response:
        text = response.read().decode()
    in_flight = served = 0
    for line in text.splitlines():
        match = LINE.match(line)
        if not match:
            continue
        kind, labels, value = match.groups()
        label = dict(LABEL.findall(labels))
        route, method = label.get("handler", ""), label.get("method", "")
        if kind == "in_flight_requests" and (route in PUSH_ROUTES or route == "manifest"):
            in_flight += int(float(value))
        elif kind == "requests_total" and (
            route in PUSH_ROUTES or method in PUSH_METHODS.get(route, ())
        ):
            served += int(float(value))
    return in_flight, served


def last_write() -> float:
    """Return the newest modification time of a file under a repository's push state."""
    newest = 0.0
    for top, _dirs, files in os.walk(REPOSITORIES):
        if not any(part in top for part in ("/_uploads", "/_layers", "/_manifests")):
            continue
        for name in files:
            try:
                newest = max(newest, os.lstat(os.path.join(top, name)).st_mtime)
            except FileNotFoundError:  # an upload finished while we looked
                continue
    return newest


def main() -> None:
    window = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    timeout = float(sys.argv[2]) if len(sys.argv) > 2 else window
    started = time.time()
    in_flight, served = push_metrics()
    quiet_since = started
    busiest, requests = in_flight, 0
    while True:
        now = time.time()
        if now - quiet_since >= window:
            written = last_write()
            if now - written >= window:
                break
            # A write no request explains (made before a restart reset the metrics): wait past it.
            quiet_since = written
        if now - started >= timeout:
            break
        time.sleep(SAMPLE_SECONDS)
        in_flight, current = push_metrics()
        if in_flight or current != served:
            quiet_since = time.time()
            busiest = max(busiest, in_flight)
            requests += max(current - served, 0)
            served = current
    written = last_write()
    now = time.time()
    report = {
        "quiet": now - quiet_since >= window and now - written >= window,
        "waited": round(now - started, 1),
        "in_flight": busiest,
        "push_requests": requests,
        "last_write": round(written, 3),
        "now": round(now, 3),
    }
    print(json.dumps(report))


main()
