"""Call adapters: the request each schema sends and how its answer is checked."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aidock.client.http import ApiClient
from aidock.worker.adapters import BentoAdapter, ResponseInvalid, adapter_for
from aidock.worker.inputs import Document, DocumentError


class StubApi(ApiClient):
    def __init__(self, answer: Any) -> None:
        super().__init__("http://127.0.0.1:9")
        self.answer = answer
        self.sent: list[tuple[str, Any]] = []

    def post_json(self, path: str, payload: Any, *, idempotent: bool = False) -> Any:
        assert idempotent
        self.sent.append((path, payload))
        return self.answer


DOC = Document("a.txt", Path("a.txt"))


def test_rag_adapter_ingests_with_the_relative_path_as_id() -> None:
    api = StubApi({"collection": "batch", "documents": 1, "passages": 2})
    assert adapter_for("rag/v1").call(api, "text", DOC)["passages"] == 2
    assert api.sent == [
        (
            "/v1/collections/batch/documents",
            {"documents": [{"id": "a.txt", "text": "text", "source": "a.txt"}]},
        )
    ]
    with pytest.raises(ResponseInvalid, match="ingested 2 documents"):
        adapter_for("rag/v1").call(
            StubApi({"collection": "b", "documents": 2, "passages": 2}), "t", DOC
        )


def test_bento_adapters_validate_both_ways() -> None:
    ok = {
        "schema_version": "categorization/v1",
        "category": "invoice",
        "confidence": 0.8,
        "scores": {"invoice": 0.8},
    }
    api = StubApi(ok)
    adapter = adapter_for("categorization/v1")
    assert isinstance(adapter, BentoAdapter)
    assert adapter.call(api, "x", DOC)["category"] == "invoice"
    assert api.sent == [("/categorize", {"text": "x"})]
    with pytest.raises(DocumentError, match="non-whitespace"):
        adapter.call(api, "  ", DOC)
    with pytest.raises(ResponseInvalid, match="categorization answer"):
        adapter.call(StubApi({**ok, "schema_version": "extraction/v1"}), "x", DOC)
    with pytest.raises(LookupError, match="no call adapter for schema 'ocr/v1'"):
        adapter_for("ocr/v1")
