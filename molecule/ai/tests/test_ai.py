"""ai_image + ai_stack: the RAG image is in the registry and its stack runs hardened."""

import pytest
from testhost import HARDENED, hosts, http, inspect, inspected

testinfra_hosts = hosts()

IMAGE = "localhost:5000/aidock/rag:0.1.0"
CONTAINER = "aidock-rag-rag-1"


def test_image_is_in_the_registry(host):
    host.run(f"docker rmi {IMAGE}")  # the stack keeps running; the pull proves the push
    assert host.run(f"docker pull {IMAGE}").rc == 0


def test_image_is_labelled(host):
    labels = inspect(host, IMAGE)["Config"]["Labels"]
    assert labels["ai.aidock.schema-version"] == "rag/v1"
    assert labels["org.opencontainers.image.version"] == "0.1.0"


@pytest.mark.parametrize(("path", "expected"), HARDENED)
def test_stack_is_hardened(host, path, expected):
    assert inspected(host, CONTAINER, path) == expected


def test_limits_are_set(host):
    config = inspect(host, CONTAINER)["HostConfig"]
    assert config["Memory"] > 0
    assert config["PidsLimit"] > 0


def test_rag_answers_from_ingested_text(host):
    doc = {
        "documents": [{"id": "probe", "text": "The molecule probe retention period is 17 days."}]
    }
    status, _ = http(host, "POST", "http://127.0.0.1:5001/v1/collections/probe/documents", doc)
    assert status == 201
    status, answer = http(
        host,
        "POST",
        "http://127.0.0.1:5001/v1/collections/probe/query",
        {"question": "What is the probe retention period?"},
    )
    assert status == 200
    assert "17 days" in answer["answer"]
