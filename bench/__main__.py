"""``python -m bench``: run the benchmark suites and write ``bench/results/``.

Suites are listed in ``SUITES``; add a new one by defining a ``bench.report.Suite`` of parts in
its own module and appending it here. ``--only`` selects parts by name (``sizes``) or by
``suite/part``; ``--suite`` selects whole suites. A suite that is not ``default`` (swarm: it
needs molecule/site's swarm) runs only when ``--suite`` names it.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from bench.agent import AGENT
from bench.bento import BENTO
from bench.catalog import CATALOG
from bench.common import BenchError, Context, log
from bench.feedback import FEEDBACK
from bench.foundation import FOUNDATION
from bench.models import MODELS
from bench.rag import RAG
from bench.report import Part, Suite, run_suite, write_index
from bench.swarm import SWARM
from bench.trust import TRUST

SUITES: tuple[Suite, ...] = (
    FOUNDATION,
    MODELS,
    AGENT,
    BENTO,
    CATALOG,
    FEEDBACK,
    RAG,
    TRUST,
    SWARM,
)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1 (got {value})")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Run the benchmark suites; results in bench/results/."
    )
    parser.add_argument("--suite", help="comma-separated suites to run (default: all)")
    parser.add_argument(
        "--only", help="comma-separated parts to run, e.g. sizes,coldstart or foundation/latency"
    )
    parser.add_argument(
        "--repeat", type=_positive, default=5, help="recorded cold starts per image (default 5)"
    )
    parser.add_argument(
        "--requests",
        type=_positive,
        default=200,
        help="recorded queries per concurrency level (default 200)",
    )
    parser.add_argument(
        "--warmup", type=int, default=10, help="warm-up queries per concurrency level (default 10)"
    )
    parser.add_argument("--rag-image", default=Context.rag_image, help="RAG image to measure")
    parser.add_argument("--url", default=Context.rag_url, help="URL of the deployed RAG stack")
    parser.add_argument(
        "--rebuild", action="store_true", help="rebuild the bench images even if up to date"
    )
    parser.add_argument("--list", action="store_true", help="list suites and parts, then exit")
    return parser.parse_args(argv)


def select(suite_arg: str | None, only_arg: str | None) -> list[tuple[Suite, list[Part]]]:
    """The suites and parts chosen by ``--suite`` and ``--only`` (errors for unknown names)."""
    by_name = {s.name: s for s in SUITES}
    suites = [s for s in SUITES if s.default]
    if suite_arg:
        names = [n.strip() for n in suite_arg.split(",") if n.strip()]
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise BenchError(f"unknown suite(s) {', '.join(unknown)}; known: {', '.join(by_name)}")
        suites = [by_name[n] for n in names]
    if not only_arg:
        return [(s, list(s.parts)) for s in suites]
    wanted = {n.strip() for n in only_arg.split(",") if n.strip()}
    chosen: list[tuple[Suite, list[Part]]] = []
    matched: set[str] = set()
    for suite in suites:
        parts = []
        for part in suite.parts:
            hits = {part.name, f"{suite.name}/{part.name}"} & wanted
            if hits:
                parts.append(part)
                matched |= hits
        if parts:
            chosen.append((suite, parts))
    unknown = wanted - matched
    if unknown:
        known = ", ".join(f"{s.name}/{p.name}" for s in suites for p in s.parts)
        raise BenchError(f"unknown part(s) {', '.join(sorted(unknown))}; known: {known}")
    return chosen


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected parts; exit 1 if any failed, 2 on usage errors."""
    args = parse_args(argv)
    if args.list:
        for suite in SUITES:
            print(f"{suite.name}: {suite.description}")
            for part in suite.parts:
                print(f"  {part.name}: {part.title}")
        return 0
    try:
        chosen = select(args.suite, args.only)
    except BenchError as exc:
        print(f"python -m bench: {exc}", file=sys.stderr)
        return 2
    ctx = Context(
        repeat=args.repeat,
        requests=args.requests,
        warmup=max(0, args.warmup),
        rag_image=args.rag_image,
        rag_url=args.url.rstrip("/"),
        rebuild=args.rebuild,
    )
    started = time.perf_counter()
    errors: list[str] = []
    try:
        for suite, parts in chosen:
            errors += run_suite(ctx, suite, parts)
    except KeyboardInterrupt:
        log("interrupted; results of finished parts are kept")
        return 130
    finally:
        write_index(SUITES)
    log(f"finished in {time.perf_counter() - started:.0f} s; results in bench/results/")
    if errors:
        print("\nbench: some parts failed:", file=sys.stderr)
        for error in errors:
            print(f"  - {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
