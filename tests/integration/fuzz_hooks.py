"""schemathesis hooks of test_openapi_fuzz.py (loaded by `st run` through SCHEMATHESIS_HOOKS).

One rule of the RAG AI no JSON Schema can state: two different documents of one ingest may
not share an id (the given one, or the sha256 of the text), since which of them to keep is
ambiguous; the service answers 422 naming the second. Schema-valid bodies that break it are
not generated, so every other 422 still counts as a disagreement.
"""

from __future__ import annotations

from typing import Any

import schemathesis
from pydantic import ValidationError

from aidock.rag.documents import document_id
from aidock.schemas.rag import DocumentIn, IngestRequest

INGEST = "/v1/collections/{name}/documents"


@schemathesis.hook
def filter_body(ctx: schemathesis.HookContext, body: Any) -> bool:
    if ctx.operation is None or ctx.operation.path != INGEST:
        return True
    try:
        documents = IngestRequest.model_validate(body).documents
    except ValidationError:
        return True  # not a valid body: the service must refuse it anyway
    seen: dict[str, DocumentIn] = {}
    return all(seen.setdefault(document_id(doc.text, doc.id), doc) == doc for doc in documents)
