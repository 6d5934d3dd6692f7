"""Each AI host runs its share of the site's AIs (aidock_host_ais), pulled from the registry,
hardened and healthy."""

import pytest
from sitehosts import NAMESPACE, RAG, RAG_VERSION, REGISTRY, STACK_HOSTS, image, registry_digest
from testhost import HARDENED, http, inspect, inspected

testinfra_hosts = STACK_HOSTS

CONTAINER = "aidock-rag-rag-1"
API = "http://127.0.0.1:5001"


def test_stack_runs_the_registry_image_by_its_pushed_digest(host):
    # The compose file names the digest the build host recorded at push (the tag only names it
    # for people), so the container runs exactly the bytes the registry holds.
    repository = f"{NAMESPACE}/{RAG}"
    digest = registry_digest(host, repository, RAG_VERSION)
    container = inspect(host, CONTAINER)
    assert container["Config"]["Image"] == f"{REGISTRY}/{repository}:{RAG_VERSION}@{digest}"
    running = image(host, container["Image"])
    assert f"{REGISTRY}/{repository}@{digest}" in running["RepoDigests"]


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
