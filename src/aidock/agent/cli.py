"""``aidock agent serve`` runs the agent's HTTP API; ``aidock agent ais`` prints its catalog."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from types import FrameType

from aidock.agent.client import (
    AGENT_URL_ENV,
    DEFAULT_AGENT_URL,
    TOKEN_FILE_ENV,
    AgentClient,
    TokenError,
    read_token,
)
from aidock.agent.errors import AgentError
from aidock.cli import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, add_group, int_range, run_client
from aidock.schemas.agent import AiOut

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8700

log = logging.getLogger(__name__)


def cmd_serve(args: argparse.Namespace) -> int:
    """Handler of ``aidock agent serve``."""
    # The HTTP server, Flask, the Docker SDK and the settings take ~0.4 s to import: only
    # this command needs them, so `aidock --help` and the other commands never do.
    from werkzeug.serving import make_server  # noqa: PLC0415  the HTTP server

    from aidock.agent.app import create_app, get_manager  # noqa: PLC0415  Flask, Docker SDK
    from aidock.agent.config import AgentConfig, ConfigError  # noqa: PLC0415  pydantic-settings

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    stop = threading.Event()
    lost = threading.Event()

    def _on_docker_lost(_down_for: float) -> None:
        lost.set()
        stop.set()

    try:
        config = AgentConfig.load(args.config)
        app = create_app(config, on_docker_lost=_on_docker_lost)
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
    if lost.is_set():
        print(
            f"error: Docker did not answer for {config.docker_lost_after:g}s; start the agent "
            "again once it does (it adopts the AIs that still run)",
            file=sys.stderr,
        )
        return EXIT_UNREACHABLE
    return EXIT_OK


def _size(count: int) -> str:
    return f"{count / 1_000_000:.1f} MB"


def ais_table(ais: list[AiOut]) -> str:
    """The catalog as a table: one row per version, unusable ones with the reason."""
    header = ("AI", "VERSION", "SCHEMA", "SIZE", "CREATED", "DIGEST", "STATUS")
    rows = [header]
    for ai in ais:
        for v in ai.versions:
            created = v.created.strftime("%Y-%m-%d %H:%M") if v.created else "-"
            status = "ok" if v.usable else f"unusable: {v.problem}"
            digest = v.digest.removeprefix("sha256:")[:12]
            rows.append(
                (
                    ai.name,
                    v.version,
                    v.schema_version or "-",
                    _size(v.size),
                    created,
                    digest,
                    status,
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header) - 1)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1]
             for row in rows]  # fmt: skip
    return "\n".join(line.rstrip() for line in lines)


def cmd_ais(args: argparse.Namespace) -> int:
    """Handler of ``aidock agent ais``."""
    if args.token_file is None:
        print(f"error: --token-file (or ${TOKEN_FILE_ENV}) is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = read_token(args.token_file)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    client = AgentClient(args.url, token, timeout=args.timeout)

    def call() -> int:
        ais = [client.ai(args.name)] if args.name else client.ais().ais
        if args.json:
            print(json.dumps([a.model_dump(mode="json") for a in ais], indent=2))
        elif not ais:
            print("the registry holds no AI yet")
        else:
            print(ais_table(ais))
        return EXIT_OK

    return run_client("agent", client.url, call)


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
        "them running for the next start to adopt (unless --terminate-on-exit). It rides "
        "out a dockerd restart, and exits with status 3 when Docker stays silent past "
        "docker_lost_after seconds (default 60).",
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

    ais = sub.add_parser(
        "ais",
        help="list the AIs the agent can run (the registry's catalog)",
        description="List every AI of the site registry's namespace with its versions, schema "
        "version, size, creation time and digest; versions whose image lacks a valid AI "
        "manifest (docs/ai-manifest.md) are shown as unusable with the label at fault.",
    )
    ais.add_argument("name", nargs="?", help="only this AI (read from the registry now)")
    ais.add_argument(
        "--url",
        default=os.environ.get(AGENT_URL_ENV, DEFAULT_AGENT_URL),
        help=f"agent base URL (default: ${AGENT_URL_ENV} or {DEFAULT_AGENT_URL})",
    )
    ais.add_argument(
        "--token-file",
        type=Path,
        default=os.environ.get(TOKEN_FILE_ENV) or None,
        help=f"file holding the agent's token (default: ${TOKEN_FILE_ENV})",
    )
    ais.add_argument("--timeout", type=float, default=30.0, help="seconds (default 30)")
    ais.add_argument("--json", action="store_true", help="print JSON")
    ais.set_defaults(handler=cmd_ais)
