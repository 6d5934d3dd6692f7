"""The RAG AI as deployed: ingest, query with sources, bad input, persistence, worker CLI."""

from __future__ import annotations

import json

import docker
import pytest
import requests
from conftest import RAG_CONTAINER, RAG_URL, REPO, aidock, wait_healthy

COLLECTION = "itest"


def ingest_docs():
    """Ingest the shipped documents into the test collection with the worker CLI."""
    return aidock(
        *("worker", "rag", "ingest", str(REPO / "data" / "docs"), "--reindex"),
        *("--collection", COLLECTION, "--url", RAG_URL),
    )


@pytest.fixture(scope="module", autouse=True)
def ingested() -> None:
    result = ingest_docs()
    assert result.returncode == 0, result.stderr


def ask(question: str) -> dict:
    result = aidock(
        "worker", "rag", "ask", question, "--collection", COLLECTION, "--url", RAG_URL, "--json"
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_answer_comes_from_the_ingested_document() -> None:
    answer = ask("How long are invoices retained?")
    assert "ten years" in answer["answer"]
    # The passage that states it is the best source, and it is text we ingested.
    top = answer["sources"][0]
    assert "ten years" in top["text"]
    assert (REPO / "data" / "docs" / top["source"]).read_text().count("ten years") > 0
    assert answer["mode"] == "offline"


def test_a_question_in_other_words_finds_the_answer() -> None:
    answer = ask("How long do we keep supplier bills?")
    assert "ten years" in answer["answer"]
    assert answer["sources"][0]["section"]  # "Title > Heading" of the passage
    collections = requests.get(f"{RAG_URL}/v1/collections", timeout=10).json()["collections"]
    embedder = next(c["embedder"] for c in collections if c["name"] == COLLECTION)
    assert embedder.startswith("wordllama-0.4.0.post1:")


def test_sources_carry_scores_in_order() -> None:
    sources = ask("Who approves exceptions to the password policy?")["sources"]
    scores = [source["score"] for source in sources]
    assert scores == sorted(scores, reverse=True)
    assert all(0 < score <= 1 for score in scores)


def test_reingesting_does_not_duplicate() -> None:
    before = requests.get(f"{RAG_URL}/v1/collections", timeout=10).json()
    again = ingest_docs()
    assert again.returncode == 0
    after = requests.get(f"{RAG_URL}/v1/collections", timeout=10).json()
    assert before == after


@pytest.mark.parametrize(
    ("path", "body", "status", "field"),
    [
        (f"/v1/collections/{COLLECTION}/query", {"question": "   "}, 422, "question"),
        (f"/v1/collections/{COLLECTION}/query", {"question": 42}, 422, "question"),
        (f"/v1/collections/{COLLECTION}/query", {"question": "x", "top_k": 0}, 422, "top_k"),
        ("/v1/collections/no-such-collection/query", {"question": "x"}, 404, None),
        (
            f"/v1/collections/{COLLECTION}/documents",
            {"documents": [{"text": ""}]},
            422,
            "documents.0.text",
        ),
    ],
)
def test_bad_input_gets_a_4xx_naming_the_problem(path, body, status, field) -> None:
    response = requests.post(f"{RAG_URL}{path}", json=body, timeout=10)
    assert response.status_code == status
    payload = response.json()
    assert payload["error"]
    if field:
        assert payload["field"] == field
    else:
        assert "no-such-collection" in payload["error"]
    assert requests.get(f"{RAG_URL}/readyz", timeout=10).status_code == 200


def test_oversize_body_is_refused_and_the_service_keeps_running() -> None:
    big = {"documents": [{"text": "x" * 1_500_000}]}
    response = requests.post(
        f"{RAG_URL}/v1/collections/{COLLECTION}/documents", json=big, timeout=30
    )
    assert response.status_code == 413
    assert "bytes" in response.json()["error"]
    assert requests.get(f"{RAG_URL}/readyz", timeout=10).status_code == 200


def test_non_json_is_refused() -> None:
    response = requests.post(
        f"{RAG_URL}/v1/collections/{COLLECTION}/query",
        data="{oops",
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    assert response.status_code == 400


def test_openapi_lists_the_endpoints() -> None:
    paths = requests.get(f"{RAG_URL}/openapi.json", timeout=10).json()["paths"]
    assert "/v1/collections/{name}/query" in paths
    assert "/v1/collections/{name}/documents" in paths


def test_collections_survive_a_container_restart(docker_client: docker.DockerClient) -> None:
    before = ask("How long are insurance claim files kept?")
    container = docker_client.containers.get(RAG_CONTAINER)
    container.restart(timeout=10)
    assert wait_healthy(container) == "healthy"
    after = ask("How long are insurance claim files kept?")
    assert after["sources"][0]["id"] == before["sources"][0]["id"]
    assert after["answer"] == before["answer"]


def test_worker_exits_non_zero_when_the_ai_is_down() -> None:
    result = aidock(
        "worker",
        "rag",
        "ask",
        "anything",
        "--url",
        "http://127.0.0.1:9",
        "--retries",
        "0",
        "--timeout",
        "2",
    )
    assert result.returncode == 3
    assert "not reachable" in result.stderr
