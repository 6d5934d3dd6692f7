"""Each AI host runs its share of the site's AIs (aidock_host_ais), pulled from the registry,
hardened and healthy."""

import pytest
from sitehosts import NAMESPACE, RAG, RAG_VERSION, REGISTRY, STACK_HOSTS, image, registry_digest
from testhost import HARDENED, http, inspect, inspected

testinfra_hosts = STACK_HOSTS

CONTAINER = "aidock-rag-rag-1"
API = "http://127.0.0.1:5001"


def test_stack_runs_the_registry_image(host):
    repository = f"{NAMESPACE}/{RAG}"
    digest = registry_digest(host, repository, RAG_VERSION)
    running = image(host, inspect(host, CONTAINER)["Image"])
    assert f"{REGISTRY}/{repository}@{digest}" in running["RepoDigests"]
    assert f"{REGISTRY}/{repository}:{RAG_VERSION}" in running["RepoTags"]


@pytest.mark.parametrize(("path", "expected"), HARDENED)
def test_stack_is_hardened_and_healthy(host, path, expected):
    assert inspected(host, CONTAINER, path) == expected


def test_rag_answers(host):
    doc = {"documents": [{"id": "site", "text": "The site probe retention period is 23 days."}]}
    assert http(host, "POST", f"{API}/v1/collections/site/documents", doc)[0] == 201
    status, answer = http(
        host, "POST", f"{API}/v1/collections/site/query", {"question": "What is the retention?"}
    )
    assert status == 200
    assert "23 days" in answer["answer"]
