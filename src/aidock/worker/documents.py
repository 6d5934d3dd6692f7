"""``aidock worker extract|categorize FILE...``: send documents to the document AIs.

Before sending anything, the worker asks the service what it serves (``GET /info``) and
checks that its schema version is compatible with the one this worker speaks; every answer
is then validated against that schema. Prints one line per file: a summary, or with
``--json`` one JSON object ``{"file": ..., **answer}``. Files are read as UTF-8.

Exit codes: 0 ok, 2 usage error (e.g. unreadable file), 3 AI not reachable, 4 API error
(the other files are still sent), 5 schema version mismatch.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from aidock.cli import (
    EXIT_API_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    int_range,
    positive_float,
    run_client,
)
from aidock.client.http import ApiClient, ApiError
from aidock.schemas import IncompatibleSchemaVersion, UnknownSchemaVersion
from aidock.schemas.bento import CATEGORIZATION_V1, EXTRACTION_V1, check_compatible, resolve

EXIT_SCHEMA_MISMATCH = 5
DEFAULT_URL = "http://127.0.0.1:3000"
INFO_PATH = "/info"


class SchemaMismatchError(Exception):
    """The service speaks (or answered in) another schema version than expected."""


@dataclass(frozen=True)
class DocumentJob:
    """One kind of document job: which route, which schema, where by default."""

    command: str
    what: str
    route: str
    schema_version: str
    url_env: str

    def summary(self, answer: dict[str, Any]) -> str:
        if self.command == "categorize":
            return f"{answer['category']} ({answer['confidence']:.2f})"
        spans = answer.get("spans", [])
        if not spans:
            return "no fields found"
        return ", ".join(f"{s['label']}={s['text']!r} ({s['confidence']:.2f})" for s in spans)


JOBS = {
    "extract": DocumentJob(
        "extract", "extraction AI", "/extract", EXTRACTION_V1, "AIDOCK_EXTRACTION_URL"
    ),
    "categorize": DocumentJob(
        "categorize", "categorization AI", "/categorize", CATEGORIZATION_V1,
        "AIDOCK_CATEGORIZATION_URL",
    ),
}  # fmt: skip


class DocumentClient:
    """Client of one document AI: checks its schema version, then sends texts."""

    def __init__(self, job: DocumentJob, url: str, *, timeout: float = 30.0, retries: int = 3):
        self.job = job
        self.api = ApiClient(url, timeout=timeout, retries=retries)
        self.response_model: type[BaseModel] = resolve(job.schema_version).response

    def info(self) -> dict[str, Any]:
        """``GET /info``, checked against the schema version this client speaks."""
        try:
            info = self.api.get_json(INFO_PATH)
        except ApiError as exc:
            if exc.status != 404:
                raise
            raise SchemaMismatchError(
                f"it does not declare its schema version (GET {INFO_PATH} answered 404)"
            ) from None
        declared = info.get("schema_version") if isinstance(info, dict) else None
        if not isinstance(declared, str):
            raise SchemaMismatchError(f"{INFO_PATH} declares no schema_version")
        expected = self.job.schema_version
        try:
            check_compatible(declared, expected)
        except UnknownSchemaVersion as exc:
            raise SchemaMismatchError(f"it serves schema {declared!r}: {exc}") from None
        except IncompatibleSchemaVersion:
            raise SchemaMismatchError(
                f"it serves schema {declared!r}, this worker speaks {expected!r}"
            ) from None
        return info

    def send(self, text: str) -> dict[str, Any]:
        """POST one text; return the answer validated against the response schema."""
        body = self.api.post_json(self.job.route, {"text": text}, idempotent=True)
        try:
            return self.response_model.model_validate(body).model_dump(mode="json")
        except ValidationError as exc:
            raise SchemaMismatchError(
                f"the answer does not match {self.job.schema_version}: {exc}"
            ) from None


def read_files(paths: Sequence[str]) -> list[tuple[str, str]] | str:
    """``[(path, text)]``, or the error message of the first unreadable file."""
    texts = []
    for path in paths:
        try:
            texts.append((path, Path(path).read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            return f"cannot read {path}: {exc}"
    return texts


def _emit(job: DocumentJob, name: str, answer: dict[str, Any], as_json: bool) -> None:
    if as_json:
        print(json.dumps({"file": name, **answer}, ensure_ascii=False))
    else:
        print(f"{name}: {job.summary(answer)}")


def run_job(job: DocumentJob, args: argparse.Namespace) -> int:
    """Handler of ``aidock worker extract|categorize``."""
    texts = read_files(args.files)
    if isinstance(texts, str):
        print(f"error: {texts}", file=sys.stderr)
        return EXIT_USAGE

    def call() -> int:
        client = DocumentClient(job, args.url, timeout=args.timeout, retries=args.retries)
        try:
            client.info()
        except SchemaMismatchError as exc:
            print(f"error: the {job.what} at {args.url}: {exc}", file=sys.stderr)
            return EXIT_SCHEMA_MISMATCH
        status = EXIT_OK
        for name, text in texts:
            try:
                answer = client.send(text)
            except ApiError as exc:
                print(f"error: {name}: the {job.what} answered {exc.status}: {exc.message}",
                      file=sys.stderr)  # fmt: skip
                if args.json:
                    print(json.dumps({"file": name, "error": exc.message, "status": exc.status}))
                status = EXIT_API_ERROR
                continue
            except SchemaMismatchError as exc:
                print(f"error: {name}: {exc}", file=sys.stderr)
                return EXIT_SCHEMA_MISMATCH
            _emit(job, name, answer, args.json)
        return status

    return run_client(job.what, args.url, call)


def _add(sub: argparse._SubParsersAction, job: DocumentJob, help_text: str) -> None:
    parser = sub.add_parser(
        job.command,
        help=help_text,
        description=f"{help_text[0].upper()}{help_text[1:]}. Checks the service's schema "
        f"version ({job.schema_version}) first.",
        epilog="Exit codes: 0 ok, 2 usage error, 3 AI not reachable, 4 API error, "
        "5 schema version mismatch.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="UTF-8 text files")
    parser.add_argument(
        "--url",
        default=os.environ.get(job.url_env, DEFAULT_URL),
        help=f"base URL of the {job.what} (default: ${job.url_env} or {DEFAULT_URL})",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object per file")
    parser.add_argument(
        "--timeout", type=positive_float, default=30.0, help="seconds per request (default: 30)"
    )
    parser.add_argument(
        "--retries", type=int_range(0, 10), default=3,
        help="retries on connection errors and 502/503/504, with backoff (default: 3)",
    )  # fmt: skip
    parser.set_defaults(handler=lambda args: run_job(job, args))


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``extract`` and ``categorize`` to the ``worker`` group."""
    _add(subparsers, JOBS["extract"], "extract invoice fields from documents")
    _add(subparsers, JOBS["categorize"], "tell the category of documents")
