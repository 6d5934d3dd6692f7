"""``aidock agent serve``: run the agent's HTTP API (a threaded WSGI server)."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from aidock.cli import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, add_group, int_range

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

log = logging.getLogger(__name__)


def cmd_serve(args: argparse.Namespace) -> int:
    """Handler of ``aidock agent serve``."""
    from werkzeug.serving import make_server

    from aidock.agent.app import create_app, get_manager
    from aidock.agent.config import AgentConfig, ConfigError
    from aidock.agent.errors import AgentError

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        config = AgentConfig.load(args.config)
        app = create_app(config)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except AgentError as exc:
        print(f"error: the agent cannot start: {exc.message}", file=sys.stderr)
        return EXIT_UNREACHABLE
    manager = get_manager(app)
    try:
        server = make_server(args.host, args.port, app, threaded=True)
    except OSError as exc:
        manager.close()
        print(f"error: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    stop = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %d: shutting down", signum)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    thread = threading.Thread(target=server.serve_forever, name="agent-http", daemon=True)
    thread.start()
    log.info(
        "agent %s listening on http://%s:%d (endpoint mode %s, registry %s/%s)",
        config.owner_id,
        args.host,
        server.server_port,
        config.endpoint_mode,
        config.registry,
        config.namespace,
    )
    try:
        while not stop.wait(1.0):
            pass
    finally:
        server.shutdown()
        thread.join(10)
        manager.close()
        if args.terminate_on_exit:
            manager.terminate_all()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``agent`` command group."""
    _, sub = add_group(
        subparsers,
        "agent",
        "run the on-demand agent that starts AI containers",
        "The agent starts hardened AI containers from the site registry on request\n"
        "(POST /v1/instances) and hands out their endpoints once they are ready.",
    )
    serve = sub.add_parser(
        "serve",
        help="serve the agent API",
        description="Serve the agent API. Settings: --config FILE (YAML or JSON), else "
        "$AIDOCK_AGENT_CONFIG, overridden by AIDOCK_AGENT_* variables. On start the agent "
        "adopts its running, ready containers and removes the others; on exit it leaves "
        "them running for the next start to adopt (unless --terminate-on-exit).",
    )
    serve.add_argument("--config", type=Path, default=None, help="settings file (YAML/JSON)")
    serve.add_argument("--host", default=DEFAULT_HOST, help=f"address (default {DEFAULT_HOST})")
    serve.add_argument(
        "--port", type=int_range(1, 65535), default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}"
    )
    serve.add_argument(
        "--terminate-on-exit", action="store_true", help="terminate every instance on exit"
    )
    serve.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    serve.set_defaults(handler=cmd_serve)
