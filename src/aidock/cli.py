"""The ``aidock`` command line.

Command groups live in their own modules; each exposes ``register(subparsers)`` and is
listed in ``COMMAND_GROUPS``. Handlers are stored with ``set_defaults(handler=...)`` and
return an exit code.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Callable, Sequence

from aidock.client.http import AiUnavailableError, ApiError

EXIT_OK = 0
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_API_ERROR = 4

# Modules registering a top-level command group.
COMMAND_GROUPS: tuple[str, ...] = (
    "aidock.worker",
    "aidock.agent.cli",
    "aidock.bento.cli",
    "aidock.dockerproxy.cli",
    "aidock.sbom",
)

Handler = Callable[[argparse.Namespace], int]


def add_group(
    subparsers: argparse._SubParsersAction, name: str, help_text: str, description: str
) -> tuple[argparse.ArgumentParser, argparse._SubParsersAction]:
    """Add a command group that prints its help (exit 2) when no subcommand is given."""
    parser = subparsers.add_parser(
        name,
        help=help_text,
        description=description,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.set_defaults(handler=None, help_parser=parser)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")
    return parser, sub


def run_client(what: str, url: str, call: Callable[[], int]) -> int:
    """Run an API call, mapping client errors to exit codes and messages on stderr."""
    try:
        return call()
    except AiUnavailableError as exc:
        print(f"error: the {what} at {url} is not reachable: {exc.reason}", file=sys.stderr)
        return EXIT_UNREACHABLE
    except ApiError as exc:
        print(f"error: the {what} answered {exc.status}: {exc.message}", file=sys.stderr)
        return EXIT_API_ERROR


def positive_float(text: str) -> float:
    """argparse type: a number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError("must be > 0")
    return value


def int_range(low: int, high: int) -> Callable[[str], int]:
    """argparse type: an integer in [low, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}")
        return value

    return parse


def build_parser() -> argparse.ArgumentParser:
    """The full parser, with every registered command group."""
    parser = argparse.ArgumentParser(
        prog="aidock",
        description="aidock: run AI models as hardened containers and use them.",
        epilog="Exit codes: 0 ok, 2 usage error, 3 AI not reachable, 4 API error.",
    )
    parser.set_defaults(handler=None, help_parser=parser)
    subparsers = parser.add_subparsers(title="command groups", metavar="GROUP")
    for module in COMMAND_GROUPS:
        importlib.import_module(module).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``aidock`` console script; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    handler: Handler | None = args.handler
    if handler is None:
        args.help_parser.print_help(sys.stderr)
        return EXIT_USAGE
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
