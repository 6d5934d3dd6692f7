"""``aidock worker run``: send every document of a directory to an AI started by the agent.

The worker asks the agent for an instance of ``--ai`` at ``--version``, calls it for each
file under ``--input`` (``--concurrency`` at a time; per-request ``--timeout``;
``--retries`` with backoff on connection errors and 502/503/504) through the *call
adapter* of the schema the instance speaks, validates every answer against that schema,
and appends one JSON line per document to ``--output``:

    {"document": "a/b.txt", "ok": true, "result": {...}, ...}
    {"document": "c.txt", "ok": false, "error": "...", "status": 422, "field": "text", ...}

Each line is flushed and fsync'ed under a lock, so a crash loses at most the line being
written (a truncated last line is dropped on the next run). A rerun skips every document
already in the output (``--retry-failed`` retries the failed ones, replacing their lines),
so each document appears exactly once. When connection errors persist, the worker asks
whether the platform is away (the agent unreachable too, as while dockerd restarts) and
then waits up to ``--outage-wait`` seconds for the same instance to answer again; when
the AI container itself died, it terminates that instance, asks the agent for a new one
(waiting out a 503 of the agent the same way) and goes on. The instance is terminated at
the end, also after errors, Ctrl-C and SIGTERM; a termination the agent cannot do yet
(Docker restarting: 503) is retried with backoff.

The summary goes to stdout as one line and, as JSON, beside the output file
(``<output>.summary.json``, replaced atomically), with the exit status in it: a wrapper
whose ``docker compose run`` lost the container (exit 125 while dockerd restarted) reads
the truth there.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from aidock.agent.client import (
    AGENT_URL_ENV,
    DEFAULT_AGENT_URL,
    TOKEN_FILE_ENV,
    TokenError,
    read_token,
)
from aidock.cli import EXIT_USAGE, int_range, positive_float
from aidock.worker.batch import RunOptions, run_batch
from aidock.worker.instance import OUTAGE_WAIT
from aidock.worker.results import ResultsError, summary_path, write_summary


def cmd_run(args: argparse.Namespace) -> int:
    """Handler of ``aidock worker run``."""
    if not args.input.is_dir():
        print(f"error: --input {args.input} is not a directory", file=sys.stderr)
        return EXIT_USAGE
    if not args.token_file:
        print(f"error: --token-file (or ${TOKEN_FILE_ENV}) is required", file=sys.stderr)
        return EXIT_USAGE
    try:
        token = read_token(args.token_file)
    except TokenError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    options = RunOptions(
        ai=args.ai,
        version=args.version,
        input=args.input,
        output=args.output,
        agent_url=args.agent_url,
        token=token,
        concurrency=args.concurrency,
        timeout=args.timeout,
        retries=args.retries,
        retry_failed=args.retry_failed,
        max_replacements=args.max_replacements,
        replicas=args.replicas,
        outage_wait=args.outage_wait,
    )
    try:
        code, summary = run_batch(options)
    except ResultsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if summary.aborted:
        print(f"error: {summary.aborted}", file=sys.stderr)
    if summary.interrupted:
        print("worker: interrupted; rerun the same command to resume", file=sys.stderr)
    print(summary.text(options.output), flush=True)
    target = summary_path(options.output)
    try:
        write_summary(target, summary.record(options, code))
    except OSError as exc:
        print(f"worker: cannot write the summary {target}: {exc}", file=sys.stderr)
    return code


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``run`` to the ``worker`` group."""
    parser = subparsers.add_parser(
        "run",
        help="send a directory of documents to an AI started by the agent",
        description=__doc__.split("\n\n", 1)[1].replace("``", "") if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Exit codes: 0 all documents ok, 1 some documents failed, 2 usage error, "
        "3 agent, registry or AI not reachable, 4 the agent refused, 130 interrupted. "
        "The summary, exit code included, is also written to <output>.summary.json.",
    )
    parser.add_argument("--ai", required=True, help="AI name in the agent's catalog, e.g. rag")
    parser.add_argument("--version", required=True, help="image tag, e.g. 0.1.0")
    parser.add_argument("--input", required=True, type=Path, metavar="DIR", help="documents")
    parser.add_argument("--output", required=True, type=Path, metavar="FILE", help="JSONL file")
    parser.add_argument(
        "--agent-url",
        default=os.environ.get(AGENT_URL_ENV, DEFAULT_AGENT_URL),
        help=f"agent base URL (default: ${AGENT_URL_ENV} or {DEFAULT_AGENT_URL})",
    )
    parser.add_argument(
        "--token-file",
        type=Path,
        default=os.environ.get(TOKEN_FILE_ENV) or None,
        help=f"file holding the agent's token (default: ${TOKEN_FILE_ENV})",
    )
    parser.add_argument(
        "--concurrency", type=int_range(1, 64), default=4, help="documents in flight (default 4)"
    )
    parser.add_argument(
        "--timeout", type=positive_float, default=60.0, help="seconds per AI request (default 60)"
    )
    parser.add_argument(
        "--retries",
        type=int_range(0, 10),
        default=3,
        help="retries on connection errors and 502/503/504, with backoff (default 3)",
    )
    parser.add_argument(
        "--replicas",
        type=int_range(1, 256),
        default=1,
        help="replicas of the AI to spread the documents over (more than 1 needs an agent "
        "with the swarm backend; default 1)",
    )
    parser.add_argument(
        "--max-replacements",
        type=int_range(0, 20),
        default=3,
        help="new instances to ask for when the AI dies mid-batch (default 3)",
    )
    parser.add_argument(
        "--outage-wait",
        type=positive_float,
        default=OUTAGE_WAIT,
        help="seconds to wait mid-batch for an agent that is unreachable or answers 503, "
        f"as while dockerd restarts (default {OUTAGE_WAIT:g})",
    )
    parser.add_argument(
        "--retry-failed",
        action="store_true",
        help="process again the documents whose line in the output says ok: false",
    )
    parser.set_defaults(handler=cmd_run)
