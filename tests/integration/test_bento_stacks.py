"""The Bento AIs as deployed: schema-checked answers over HTTP, BentoML's client, the worker."""

from __future__ import annotations

import json
from pathlib import Path

import bentoml
import pytest
import requests
from conftest import aidock

from aidock.ais.corpus import generate_one
from aidock.schemas.bento import CategorizationResponse, ExtractionResponse

EXTRACTION_URL = "http://127.0.0.1:3001"
CATEGORIZATION_URL = "http://127.0.0.1:3002"

# A held-out document: seed 99 is used by no training run.
INVOICE = generate_one(seed=99, index=0, category="invoice")


@pytest.mark.parametrize(
    ("url", "schema"),
    [(EXTRACTION_URL, "extraction/v1"), (CATEGORIZATION_URL, "categorization/v1")],
)
def test_service_declares_its_schema_version(url: str, schema: str) -> None:
    info = requests.get(f"{url}/info", timeout=10).json()
    assert info["schema_version"] == schema
    assert len(info["model_sha256"]) == 64
    assert requests.get(f"{url}/readyz", timeout=10).status_code == 200


def test_extraction_finds_the_labelled_fields() -> None:
    response = requests.post(f"{EXTRACTION_URL}/extract", json={"text": INVOICE.text}, timeout=30)
    assert response.status_code == 200
    answer = ExtractionResponse.model_validate(response.json())
    found = {(span.label, span.start, span.end) for span in answer.spans}
    expected = {(span.label, span.start, span.end) for span in INVOICE.fields}
    assert len(found & expected) >= len(expected) - 1, (found, expected)
    for span in answer.spans:
        assert INVOICE.text[span.start : span.end] == span.text


def test_categorization_names_the_category() -> None:
    response = requests.post(
        f"{CATEGORIZATION_URL}/categorize", json={"text": INVOICE.text}, timeout=30
    )
    assert response.status_code == 200
    answer = CategorizationResponse.model_validate(response.json())
    assert answer.category == "invoice"


def test_bentoml_client_gets_schema_valid_answers() -> None:
    with bentoml.SyncHTTPClient(EXTRACTION_URL) as client:
        ExtractionResponse.model_validate(client.extract(text=INVOICE.text))
    with bentoml.SyncHTTPClient(CATEGORIZATION_URL) as client:
        CategorizationResponse.model_validate(client.categorize(text=INVOICE.text))


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "text"),
        ({"text": 42}, "text"),
        ({"text": "   "}, "text"),
        ({"text": "x" * 200_001}, "text"),
    ],
)
def test_bad_payloads_get_a_4xx_naming_the_field(body: dict, field: str) -> None:
    response = requests.post(f"{EXTRACTION_URL}/extract", json=body, timeout=30)
    assert 400 <= response.status_code < 500
    assert response.json()["field"] == field
    assert requests.get(f"{EXTRACTION_URL}/readyz", timeout=10).status_code == 200


def test_worker_checks_the_schema_and_prints_json(tmp_path: Path) -> None:
    document = tmp_path / "invoice.txt"
    document.write_text(INVOICE.text)
    result = aidock("worker", "categorize", str(document), "--url", CATEGORIZATION_URL, "--json")
    assert result.returncode == 0, result.stderr
    line = json.loads(result.stdout.splitlines()[0])
    assert line["file"].endswith("invoice.txt") or "invoice.txt" in json.dumps(line)
    # The extraction service does not speak categorization/v1: the worker refuses it.
    wrong = aidock("worker", "categorize", str(document), "--url", EXTRACTION_URL, "--json")
    assert wrong.returncode == 5
