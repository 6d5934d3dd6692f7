"""``aidock dockerproxy serve`` runs the policy proxy; ``aidock dockerproxy check`` validates it."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from aidock import healthcheck
from aidock.cli import EXIT_OK, EXIT_UNREACHABLE, EXIT_USAGE, add_group


def _load(args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from pydantic import ValidationError  # noqa: PLC0415  pydantic only for these commands

    from aidock.dockerproxy.config import ProxySettings  # noqa: PLC0415  pydantic-settings
    from aidock.dockerproxy.policy import PolicyError, load_policy  # noqa: PLC0415  pydantic

    try:
        settings = ProxySettings()
        return settings, load_policy(settings, args.policy)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        print(f"error: invalid proxy settings: {where}: {first['msg']}", file=sys.stderr)
    except PolicyError as exc:
        print(f"error: {exc}", file=sys.stderr)
    return None


def cmd_check(args: argparse.Namespace) -> int:
    """Handler of ``aidock dockerproxy check``."""
    loaded = _load(args)
    if loaded is None:
        return EXIT_USAGE
    settings, policy = loaded
    allowed = [r for r in policy.routes if not r.deny]
    print(
        f"policy ok: {len(allowed)} allowed routes, {len(policy.routes) - len(allowed)} "
        f"refusals, {len(policy.checks)} checks; registry {settings.registry}/"
        f"{settings.namespace}, owner {settings.owner_label}={settings.owner}, "
        f"networks {', '.join(settings.networks)}"
    )
    return EXIT_OK


def cmd_ping(args: argparse.Namespace) -> int:
    """Handler of ``aidock dockerproxy ping``: exit 0 when ``GET /_ping`` on the proxy is 2xx.

    For an operator on the host: it reaches dockerd through the proxy, so it succeeds only when
    both answer. The container's own healthcheck is the same GET through
    ``python -m aidock.healthcheck --unix-socket`` (standard library only, no CLI start-up).
    """
    from aidock.dockerproxy.config import ProxySettings  # noqa: PLC0415  pydantic-settings

    healthy, message = healthcheck.check(
        "http://docker/_ping", args.timeout, str(args.socket or ProxySettings().listen)
    )
    if not healthy:
        print(f"error: {message} (the proxy, or dockerd behind it?)", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_OK


def cmd_serve(args: argparse.Namespace) -> int:
    """Handler of ``aidock dockerproxy serve``."""
    from aidock.dockerproxy.decide import Decider  # noqa: PLC0415  pydantic, policy
    from aidock.dockerproxy.server import (  # noqa: PLC0415  gunicorn
        GunicornServer,
        ProxyApp,
        Upstream,
        gunicorn_options,
    )

    logging.basicConfig(
        level=getattr(logging, args.log_level.upper()),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    loaded = _load(args)
    if loaded is None:
        return EXIT_USAGE
    settings, policy = loaded
    app = ProxyApp(
        Decider(policy, settings), Upstream(settings.upstream, settings.upstream_timeout)
    )
    logging.getLogger(__name__).info(
        "serving %s -> %s (registry %s/%s, owner %s)",
        settings.listen,
        settings.upstream,
        settings.registry,
        settings.namespace,
        settings.owner,
    )
    GunicornServer(
        app, gunicorn_options(settings.listen, settings.socket_mode, settings.threads)
    ).run()
    return EXIT_OK


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``dockerproxy`` command group."""
    _, sub = add_group(
        subparsers,
        "dockerproxy",
        "run the Docker API policy proxy in front of dockerd",
        "The proxy is the only holder of the Docker socket: it forwards to dockerd what its\n"
        "policy allows (hardened containers of the agent, images of the site registry) and\n"
        "refuses the rest with 403 and the rule's name. Settings: AIDOCK_DOCKERPROXY_*.",
    )
    for name, handler, text in (
        ("serve", cmd_serve, "serve the proxy on its unix socket"),
        ("check", cmd_check, "validate the settings and the policy file, then exit"),
    ):
        parser = sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        parser.add_argument(
            "--policy", type=Path, default=None, help="policy file (default: the packaged one)"
        )
        if name == "serve":
            parser.add_argument(
                "--log-level", default="info", choices=["debug", "info", "warning", "error"]
            )
        parser.set_defaults(handler=handler)
    ping = sub.add_parser(
        "ping",
        help="exit 0 when the proxy and dockerd behind it answer (healthcheck)",
        description="GET /_ping on the proxy's socket; exit 0 on 2xx, 3 otherwise.",
    )
    ping.add_argument("--socket", type=Path, default=None, help="default: the listen setting")
    ping.add_argument("--timeout", type=float, default=3.0, help="seconds (default 3)")
    ping.set_defaults(handler=cmd_ping)
