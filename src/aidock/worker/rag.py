"""``aidock worker rag``: ask the RAG AI questions and ingest documents into it."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from aidock.cli import EXIT_OK, EXIT_USAGE, add_group, int_range, positive_float, run_client
from aidock.client.http import ApiClient, ApiError
from aidock.rag.documents import IngestDocument, load_directory

DEFAULT_URL = "http://127.0.0.1:5001"
URL_ENV = "AIDOCK_RAG_URL"
BATCH_DOCUMENTS = 200
BATCH_BYTES = 512_000
SNIPPET_CHARS = 160


class RagClient:
    """Client of the RAG AI's HTTP API."""

    def __init__(self, url: str, *, timeout: float = 30.0, retries: int = 3) -> None:
        self.api = ApiClient(url, timeout=timeout, retries=retries)

    @staticmethod
    def _path(collection: str, action: str) -> str:
        return f"/v1/collections/{quote(collection, safe='')}/{action}"

    def ask(self, question: str, collection: str = "docs", top_k: int | None = None) -> Any:
        """POST a question; returns the answer document."""
        payload: dict[str, Any] = {"question": question}
        if top_k is not None:
            payload["top_k"] = top_k
        return self.api.post_json(self._path(collection, "query"), payload, idempotent=True)

    def ingest(self, documents: Sequence[IngestDocument], collection: str = "docs") -> Any:
        """POST one batch of documents (ingest is an idempotent upsert)."""
        payload = {"documents": list(documents)}
        return self.api.post_json(self._path(collection, "documents"), payload, idempotent=True)

    def reindex(self, collection: str = "docs") -> Any:
        """POST a reindex: the service re-embeds the collection with its embedder."""
        return self.api.post_json(self._path(collection, "reindex"), {}, idempotent=True)

    def collections(self) -> Any:
        """GET the collections and their passage counts."""
        return self.api.get_json("/v1/collections")


def batches(
    documents: Sequence[IngestDocument],
    max_docs: int = BATCH_DOCUMENTS,
    max_bytes: int = BATCH_BYTES,
) -> Iterator[list[IngestDocument]]:
    """Split documents into request-sized batches (a single oversized document goes alone)."""
    batch: list[IngestDocument] = []
    size = 0
    for doc in documents:
        doc_size = len(json.dumps(doc).encode("utf-8"))
        if batch and (len(batch) >= max_docs or size + doc_size > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append(doc)
        size += doc_size
    if batch:
        yield batch


def _snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def format_answer(body: dict[str, Any]) -> str:
    """Human-readable answer followed by its sources."""
    lines = [str(body.get("answer", "")), ""]
    sources = body.get("sources") or []
    lines.append("Sources:" if sources else "Sources: none")
    for src in sources:
        name = src.get("source") or src.get("document_id") or src.get("id")
        lines.append(f"  [{float(src.get('score', 0.0)):.2f}] {name}: {_snippet(src['text'])}")
    return "\n".join(lines)


def _client(args: argparse.Namespace) -> RagClient:
    return RagClient(args.url, timeout=args.timeout, retries=args.retries)


def cmd_ask(args: argparse.Namespace) -> int:
    """Handler of ``aidock worker rag ask``."""

    def call() -> int:
        body = _client(args).ask(args.question, args.collection, args.top_k)
        if args.json:
            print(json.dumps(body, indent=2, ensure_ascii=False))
        else:
            print(format_answer(body))
        return EXIT_OK

    return run_client("RAG AI", args.url, call)


def cmd_ingest(args: argparse.Namespace) -> int:
    """Handler of ``aidock worker rag ingest``."""
    try:
        documents = load_directory(args.directory)
    except OSError as exc:
        print(f"error: cannot read {args.directory}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if not documents:
        print(f"error: no .txt or .md files in {args.directory}", file=sys.stderr)
        return EXIT_USAGE

    def call() -> int:
        client = _client(args)
        docs = passages = 0
        for batch in batches(documents):
            try:
                body = client.ingest(batch, args.collection)
            except ApiError as exc:
                if not (args.reindex and exc.status == 409):
                    raise
                _reindex(client, args)  # built with another embedder: rebuild, then retry
                body = client.ingest(batch, args.collection)
            docs += int(body["documents"])
            passages += int(body["passages"])
        print(
            f"ingested {docs} documents ({passages} passages) into collection "
            f"{args.collection!r} at {args.url}"
        )
        return EXIT_OK

    return run_client("RAG AI", args.url, call)


def _reindex(client: RagClient, args: argparse.Namespace) -> None:
    body = client.reindex(args.collection)
    print(
        f"reindexed collection {body['collection']!r} at {args.url}: {body['passages']} "
        f"passages, embedder {body.get('previous_embedder')} -> {body['embedder']}"
    )


def cmd_reindex(args: argparse.Namespace) -> int:
    """Handler of ``aidock worker rag reindex``."""

    def call() -> int:
        _reindex(_client(args), args)
        return EXIT_OK

    return run_client("RAG AI", args.url, call)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"base URL of the RAG AI (default: ${URL_ENV} or {DEFAULT_URL})",
    )
    parser.add_argument("--collection", default="docs", help="collection name (default: docs)")
    parser.add_argument(
        "--timeout", type=positive_float, default=30.0, help="seconds per request (default: 30)"
    )
    parser.add_argument(
        "--retries",
        type=int_range(0, 10),
        default=3,
        help="retries on connection errors and 502/503/504, with backoff (default: 3)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``rag ask``, ``rag ingest`` and ``rag reindex`` to the ``worker`` group."""
    _, sub = add_group(
        subparsers,
        "rag",
        "ask the RAG AI questions or ingest documents into it",
        "Talk to the RAG AI (retrieval-augmented answers from ingested documents).",
    )
    ask = sub.add_parser(
        "ask",
        help="ask a question; prints the answer and its sources",
        description="Ask a question. Prints the answer, then the sources as "
        "'[score] source: snippet' (or the raw JSON with --json).",
    )
    ask.add_argument("question", help="the question to ask")
    ask.add_argument("--top-k", type=int_range(1, 20), default=None, help="passages (1-20)")
    ask.add_argument("--json", action="store_true", help="print the raw JSON answer")
    _common(ask)
    ask.set_defaults(handler=cmd_ask)

    ingest = sub.add_parser(
        "ingest",
        help="ingest a directory of .txt/.md files",
        description="Ingest every .txt and .md file under DIRECTORY (document id = relative "
        "path). Re-ingesting replaces a document's passages instead of duplicating them.",
    )
    ingest.add_argument("directory", metavar="DIR", help="directory of .txt/.md files")
    ingest.add_argument(
        "--reindex",
        action="store_true",
        help="if the collection was built with another embedder (HTTP 409), reindex it first",
    )
    _common(ingest)
    ingest.set_defaults(handler=cmd_ingest)

    reindex = sub.add_parser(
        "reindex",
        help="rebuild a collection with the service's current embedder",
        description="Re-embed every stored passage of a collection with the embedder the "
        "service runs now (after an upgrade or a change of RAG_EMBEDDER, queries are refused "
        "with HTTP 409 until this is done). The new vectors replace the old ones only once "
        "all are computed.",
    )
    _common(reindex)
    reindex.set_defaults(handler=cmd_reindex)
