"""Headless Debian Chromium driven over the DevTools protocol (websocket-client), for page tests.

``open_page(url)`` loads a page in a fresh browser and reports every request it made (status
or network error), every uncaught script error, and what a script reads off the rendered
page. The browser is kept off any network but this host: names other than localhost do not
resolve (``--host-resolver-rules``) and its background services (updates, sync, safe
browsing, metrics) are off, so a page that wants the internet shows up as a failed request.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import websocket

CHROMIUM = "chromium"
INSTALL_HINT = "install Debian's chromium package (`make tools` does)"
FLAGS = (
    "--headless",
    "--no-sandbox",  # root in CI; the pages are our own
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-domain-reliability",
    "--disable-extensions",
    "--disable-sync",
    "--metrics-recording-only",
    "--no-pings",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
    "--remote-debugging-port=0",
)


@dataclass
class Request:
    url: str
    status: int | None = None
    error: str | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.status is None or self.status >= 400


@dataclass
class PageReport:
    """What loading a page did."""

    requests: list[Request] = field(default_factory=list)
    exceptions: list[str] = field(default_factory=list)
    value: Any = None
    done: bool = False  # the ``done`` expression came true (else: timed out)

    @property
    def failed_requests(self) -> list[Request]:
        return [r for r in self.requests if r.failed]


class DevTools:
    """One browser-level DevTools connection; commands of a page go to its session."""

    def __init__(self, ws_url: str) -> None:
        self.ws = websocket.create_connection(ws_url, timeout=10, suppress_origin=True)
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    def close(self) -> None:
        self.ws.close()

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(self.ws.recv())
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def drain(self, seconds: float) -> None:
        """Collect the events that arrive within ``seconds``."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self.ws.settimeout(left)
            try:
                self.events.append(json.loads(self.ws.recv()))
            except websocket.WebSocketTimeoutException:
                break
        self.ws.settimeout(10)


def chromium() -> str:
    """The chromium binary, or an error that says how to get it."""
    path = shutil.which(CHROMIUM)
    if path is None:
        raise RuntimeError(f"no {CHROMIUM} in PATH: {INSTALL_HINT}")
    return path


def _devtools_url(profile: Path, proc: subprocess.Popen[bytes], timeout: float) -> str:
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.is_file():
            lines = port_file.read_text().split()
            if len(lines) == 2:
                return f"ws://127.0.0.1:{lines[0]}{lines[1]}"
        if proc.poll() is not None:
            raise RuntimeError(f"{CHROMIUM} exited with {proc.returncode}")
        time.sleep(0.1)
    raise RuntimeError(f"{CHROMIUM} opened no DevTools port within {timeout} s")


def open_page(url: str, script: str, *, done: str, timeout: float = 60.0) -> PageReport:
    """Load ``url``; once the expression ``done`` is true, evaluate ``script`` into ``value``.

    The network has to be quiet (no request pending) before the report is taken; after
    ``timeout`` seconds it is taken anyway, with ``done`` false.
    """
    # The browser's helpers may still write into the profile as they go: no cleanup errors.
    with tempfile.TemporaryDirectory(prefix="aidock-chromium-", ignore_cleanup_errors=True) as tmp:
        proc = subprocess.Popen(
            [chromium(), *FLAGS, f"--user-data-dir={tmp}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: the browser and its helpers
        )
        try:
            tools = DevTools(_devtools_url(Path(tmp), proc, 30))
            try:
                return _load(tools, url, script, done, timeout)
            finally:
                tools.close()
        finally:
            _stop(proc)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the browser's process group (this test started it) and reap the browser."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(10)
            return
        except subprocess.TimeoutExpired:
            continue


def _load(tools: DevTools, url: str, script: str, done: str, timeout: float) -> PageReport:
    target = tools.call("Target.createTarget", url="about:blank")["targetId"]
    session = tools.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
    for domain in ("Network", "Page", "Runtime"):
        tools.call(f"{domain}.enable", session)
    tools.events.clear()
    tools.call("Page.navigate", session, url=url)
    deadline = time.monotonic() + timeout
    report = PageReport()
    while time.monotonic() < deadline:
        tools.drain(0.25)
        ready = tools.call("Runtime.evaluate", session, expression=done, returnByValue=True)
        requests = _requests(tools.events).values()
        pending = [r for r in requests if r.status is None and r.error is None]
        if ready.get("result", {}).get("value") is True and not pending:
            report.done = True
            break
    value = tools.call("Runtime.evaluate", session, expression=script, returnByValue=True)
    _settle(tools, 10.0)
    report.requests = list(_requests(tools.events).values())
    report.exceptions = [
        e["params"]["exceptionDetails"].get("text", "?")
        for e in tools.events
        if e.get("method") == "Runtime.exceptionThrown"
    ]
    report.value = value.get("result", {}).get("value")
    return report


def _settle(tools: DevTools, seconds: float, quiet: float = 1.0) -> None:
    """Wait for late requests (the icon, after the page rendered) until ``quiet`` seconds
    pass with none pending and no event, or ``seconds``; what is pending then failed."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        seen = len(tools.events)
        tools.drain(quiet)
        requests = _requests(tools.events).values()
        if len(tools.events) == seen and all(r.status or r.error for r in requests):
            return


def _requests(events: list[dict[str, Any]]) -> dict[str, Request]:
    found: dict[str, Request] = {}
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Network.requestWillBeSent":
            found[params["requestId"]] = Request(params["request"]["url"])
        elif method == "Network.responseReceived" and params["requestId"] in found:
            found[params["requestId"]].status = params["response"]["status"]
        elif method == "Network.loadingFailed" and params["requestId"] in found:
            found[params["requestId"]].error = params.get("errorText", "failed")
    return found
