"""Call adapters: how to send one document to an AI of a schema version and check its answer.

Each adapter validates the request before it is sent (an invalid document is a
``DocumentError``, never sent) and the answer against the schema the AI declared (else
``ResponseInvalid``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from pydantic import BaseModel, ValidationError

from aidock.client.http import ApiClient
from aidock.schemas import compatible
from aidock.schemas.bento import resolve
from aidock.schemas.rag import IngestRequest, IngestResponse
from aidock.worker.inputs import Document, DocumentError

RAG_COLLECTION = "batch"


class ResponseInvalid(Exception):
    """The AI answered, but not in the schema it declared."""


class CallAdapter(Protocol):
    """How to send one document to an AI of one schema version and check the answer."""

    schema_version: str

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        """Send ``text``; return the validated answer (raise ``DocumentError`` or
        ``ResponseInvalid``; ``ApiError``/``AiUnavailableError`` pass through)."""
        ...


def _validated(model: type[BaseModel], body: Any, what: str) -> dict[str, Any]:
    try:
        return model.model_validate(body).model_dump(mode="json")
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "body"
        raise ResponseInvalid(f"{what} does not match the schema: {loc}: {first['msg']}") from exc


@dataclass(frozen=True)
class RagIngestAdapter:
    """rag/v1: ingest the document (id = relative path); result = the ingest counts."""

    schema_version: str = "rag/v1"
    collection: str = RAG_COLLECTION

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        payload = {"documents": [{"id": doc.relpath, "text": text, "source": doc.relpath}]}
        try:
            IngestRequest.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise DocumentError(f"{doc.relpath}: {first['msg']}", "text") from exc
        body = api.post_json(
            f"/v1/collections/{self.collection}/documents", payload, idempotent=True
        )
        result = _validated(IngestResponse, body, "the ingest answer")
        if result["documents"] != 1:
            raise ResponseInvalid(f"the AI ingested {result['documents']} documents, not 1")
        return result


@dataclass(frozen=True)
class BentoAdapter:
    """extraction/v1, categorization/v1: ``POST {"text"}`` to ``path``, validated both ways."""

    schema_version: str
    path: str

    def call(self, api: ApiClient, text: str, doc: Document) -> dict[str, Any]:
        pair = resolve(self.schema_version)
        try:
            payload = pair.request.model_validate({"text": text}).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            raise DocumentError(f"{doc.relpath}: {first['msg']}", "text") from exc
        body = api.post_json(self.path, payload, idempotent=True)
        return _validated(pair.response, body, f"the {pair.ai_type} answer")


ADAPTERS: dict[str, Callable[[], CallAdapter]] = {
    "rag/v1": RagIngestAdapter,
    "extraction/v1": lambda: BentoAdapter("extraction/v1", "/extract"),
    "categorization/v1": lambda: BentoAdapter("categorization/v1", "/categorize"),
}


def adapter_for(schema_version: str) -> CallAdapter:
    """The adapter of ``schema_version`` (same type, same major)."""
    for speaks, factory in ADAPTERS.items():
        if compatible(schema_version, speaks):
            return factory()
    known = ", ".join(sorted(ADAPTERS))
    raise LookupError(f"no call adapter for schema {schema_version!r} (known: {known})")
