"""Container health check: ``python -m aidock.healthcheck URL [--timeout 3]``.

Exits 0 when ``GET URL`` answers 2xx, else 1. Standard library only (no curl, no shell);
proxies from the environment are ignored because the target is the container itself.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
from collections.abc import Sequence


def check(url: str, timeout: float = 3.0) -> tuple[bool, str]:
    """GET ``url``; return (healthy, description)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    request = urllib.request.Request(url, headers={"User-Agent": "aidock-healthcheck"})
    try:
        with opener.open(request, timeout=timeout) as resp:
            status = int(resp.status)
    except urllib.error.HTTPError as exc:
        return False, f"{url} answered {exc.code}"
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"{url} is not reachable: {reason}"
    return 200 <= status < 300, f"{url} answered {status}"


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, run the check, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m aidock.healthcheck", description="Exit 0 if GET URL answers 2xx."
    )
    parser.add_argument("url", metavar="URL")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds (default: 3)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # Docker reserves exit code 2: report usage errors as 1
        return 0 if exc.code == 0 else 1
    healthy, message = check(args.url, args.timeout)
    if not healthy:
        print(message, file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
