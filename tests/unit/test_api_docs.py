"""The OpenAPI documents agree with the services: every route, every constraint, one source.

Each document is read as a client reads it (jsonschema-rs: JSON Schema 2020-12 with ECMA
regexes, what schemathesis validates with) and compared with the models the services validate
with, on bodies chosen at the edges where they used to disagree (issue 15 item 6). The Swagger
UI page is served from the wheel's assets, with no address outside the service.
"""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import _bentoml_impl.server as served
import jsonschema_rs
import pytest
from flask import Flask
from pydantic import BaseModel, ValidationError
from test_agent_fakes import TOKEN, FakeCatalog, FakeOps

from aidock.agent.app import create_app as create_agent
from aidock.agent.config import AgentConfig
from aidock.api_docs import ASSETS_ENDPOINT
from aidock.bento.body_limit import MAX_BODY_BYTES
from aidock.bento.service import REFUSALS, document_api, offline_page
from aidock.rag.app import create_app as create_rag
from aidock.rag.config import RagConfig
from aidock.schemas.agent import InstanceRequest
from aidock.schemas.bento import CategorizationRequest, ExtractionRequest
from aidock.schemas.constraints import NOT_BLANK_PATTERN, WHITESPACE
from aidock.schemas.rag import IngestRequest, QueryRequest, valid_collection_name


class _Probe:
    def __call__(self, url: str, timeout: float) -> bool:
        return True


@pytest.fixture(scope="module")
def rag_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    return create_rag(RagConfig(data_dir=tmp_path_factory.mktemp("rag") / "db"), init="manual")


@pytest.fixture(scope="module")
def agent_app(tmp_path_factory: pytest.TempPathFactory) -> Flask:
    token = tmp_path_factory.mktemp("agent") / "token"
    token.write_text(TOKEN + "\n")
    config = AgentConfig(owner_id="unit", token_file=token)
    return create_agent(
        config, ops=FakeOps(config), catalog=FakeCatalog(), probe=_Probe(), init="manual"
    )


@pytest.fixture(params=["rag", "agent"])
def app(request: pytest.FixtureRequest) -> Flask:
    return request.getfixturevalue(f"{request.param}_app")


def spec_of(app: Flask) -> dict[str, Any]:
    return app.test_client().get("/openapi.json").json


def _routes(app: Flask) -> set[tuple[str, str]]:
    """(OpenAPI path, method) of every rule of the url_map but the static assets."""
    found = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint in (ASSETS_ENDPOINT, "static"):
            continue
        path = re.sub(r"<(?:[^:>]+:)?([^>]+)>", r"{\1}", rule.rule)
        found |= {(path, m.lower()) for m in rule.methods or () if m not in ("HEAD", "OPTIONS")}
    return found


def _documented(spec: dict[str, Any]) -> set[tuple[str, str]]:
    methods = {"get", "put", "post", "delete", "patch"}
    return {(p, m) for p, item in spec["paths"].items() for m in item if m in methods}


def test_every_route_is_documented_and_nothing_else(app: Flask) -> None:
    assert _routes(app) == _documented(spec_of(app))


def test_every_operation_documents_its_errors_and_refs_resolve(app: Flask) -> None:
    spec = spec_of(app)
    schemas = spec["components"]["schemas"]
    for path, method in _documented(spec):
        responses = spec["paths"][path][method]["responses"]
        assert any(code.startswith("2") for code in responses), (path, method)
        if "requestBody" in spec["paths"][path][method]:
            assert {"400", "413", "415", "422"} <= set(responses), (path, method)
    refs = re.findall(r'"#/components/schemas/([^"]+)"', str(spec).replace("'", '"'))
    assert refs and set(refs) <= set(schemas)


def _validator(spec: dict[str, Any], schema: dict[str, Any]) -> Any:
    return jsonschema_rs.validator_for({**schema, "components": spec["components"]})


def _body_validator(spec: dict[str, Any], path: str) -> Any:
    body = spec["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return _validator(spec, body)


def _accepts(model: type[BaseModel], body: Any) -> bool:
    try:
        model.model_validate(body)
    except ValidationError:
        return False
    return True


QUERY = "/v1/collections/{name}/query"
INGEST = "/v1/collections/{name}/documents"
QUERIES = [
    {"question": "ok"},
    {"question": "ok", "top_k": 9},
    {"question": "ok", "top_k": 9.0},  # a JSON Schema integer: accepted since issue 15
    {"question": "ok", "top_k": None},
    {"question": "ok", "top_k": 9.5},
    {"question": "ok", "top_k": "9"},
    {"question": "ok", "top_k": True},
    {"question": "ok", "top_k": 0},
    {"question": "ok", "top_k": 21},
    {"question": ""},
    {"question": "   "},
    {"question": "\x1c\u3000"},  # whitespace to str.strip, not to ECMA's \s
    {"question": "\ufeff"},  # whitespace to ECMA's \s, not to str.strip
    {"question": "x" * 2000},
    {"question": " " * 1999 + "ok"},
    {"question": "ok", "topk": 3},
    {},
    ["question"],
]
INGESTS = [
    {"documents": [{"text": "ok"}]},
    {"documents": []},
    {"documents": [{"text": " "}]},
    {"documents": [{"text": "ok", "id": " x "}]},
    {"documents": [{"text": "ok", "id": "\t"}]},
    {"documents": [{"text": "ok", "id": "x" * 513}]},
    {"documents": [{"text": "ok", "metadata": {"dept": "HR", "year": 2024, "w": 0.5}}]},
    {"documents": [{"text": "ok", "metadata": {"source": "x"}}]},
    {"documents": [{"text": "ok", "metadata": {"chunk": 1}}]},
    {"documents": [{"text": "ok", "metadata": {"9lives": 1}}]},
    {"documents": [{"text": "ok", "metadata": {"a\n": 1}}]},
    {"documents": [{"text": "ok", "metadata": {"a" * 65: 1}}]},
    {"documents": [{"text": "ok", "metadata": {"tags": ["a"]}}]},
    {"documents": [{"text": "ok", "metadata": {"none": None}}]},
    {"documents": [{"text": "ok", "source": "s" * 1025}]},
]


@pytest.mark.parametrize("body", QUERIES, ids=repr)
def test_rag_query_spec_and_model_agree(rag_app: Flask, body: Any) -> None:
    validator = _body_validator(spec_of(rag_app), QUERY)
    assert validator.is_valid(body) == _accepts(QueryRequest, body)


@pytest.mark.parametrize("body", INGESTS, ids=repr)
def test_rag_ingest_spec_and_model_agree(rag_app: Flask, body: Any) -> None:
    validator = _body_validator(spec_of(rag_app), INGEST)
    assert validator.is_valid(body) == _accepts(IngestRequest, body)


@pytest.mark.parametrize(
    "name", ["docs", "a.b-c_d", "ab", "a..b", "abc\n", "-abc", "abc.", "a" * 63, "a" * 64, "é12"]
)
def test_rag_collection_name_spec_and_service_agree(rag_app: Flask, name: str) -> None:
    spec = spec_of(rag_app)
    param = spec["paths"][QUERY]["parameters"][0]
    assert param["name"] == "name"
    assert _validator(spec, param["schema"]).is_valid(name) == valid_collection_name(name)


def test_rag_spec_states_the_constraints(rag_app: Flask) -> None:
    schemas = spec_of(rag_app)["components"]["schemas"]
    metadata = schemas["DocumentIn"]["properties"]["metadata"]
    assert metadata["propertyNames"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_.-]{0,63}$"
    assert metadata["propertyNames"]["not"] == {"enum": ["chunk", "document_id", "source"]}
    assert "patternProperties" not in metadata  # it would let every other key through
    top_k = schemas["QueryRequest"]["properties"]["top_k"]["anyOf"][0]
    assert top_k == {"type": "integer", "minimum": 1, "maximum": 20}
    question = schemas["QueryRequest"]["properties"]["question"]
    assert (question["minLength"], question["maxLength"]) == (1, 2000)
    assert question["pattern"] == NOT_BLANK_PATTERN
    assert schemas["IngestRequest"]["properties"]["documents"]["maxItems"] == 1000


AGENT_BODIES = [
    {"ai": "rag", "version": "0.1.0"},
    {"ai": "invoice-sorter.v2", "version": "latest"},
    {"ai": "Rag", "version": "0.1.0"},
    {"ai": "a" * 40, "version": "1"},
    {"ai": "a" * 41, "version": "1"},
    {"ai": "rag\n", "version": "1"},
    {"ai": "a--b", "version": "1"},
    {"ai": "../rag", "version": "1"},
    {"ai": "rag", "version": "a..b"},
    {"ai": "rag", "version": ".x"},
    {"ai": "rag", "version": "x" * 128},
    {"ai": "rag", "version": "x" * 129},
    {"ai": "rag", "version": "1@sha256:00"},
    {"ai": "rag"},
    {"ai": 7, "version": "1"},
]


@pytest.mark.parametrize("body", AGENT_BODIES, ids=repr)
def test_agent_spec_model_and_service_agree(agent_app: Flask, body: Any) -> None:
    validator = _body_validator(spec_of(agent_app), "/v1/instances")
    assert validator.is_valid(body) == _accepts(InstanceRequest, body)
    if not validator.is_valid(body):  # refused before the catalog is asked, 403 or 422
        headers = {"Authorization": f"Bearer {TOKEN}"}
        resp = agent_app.test_client().post("/v1/instances", json=body, headers=headers)
        assert resp.status_code in (403, 422), resp.json


def test_agent_spec_documents_the_catalog_and_health(agent_app: Flask) -> None:
    spec = spec_of(agent_app)
    assert "503" in spec["paths"]["/healthz"]["get"]["responses"]
    name = spec["paths"]["/v1/ais/{name}"]["parameters"][0]["schema"]
    assert name["maxLength"] == 40 and name["pattern"].startswith("^[a-z0-9]+")
    assert spec["paths"]["/v1/ais"]["get"]["security"] == [{"bearer": []}]
    assert "AiOut" in spec["components"]["schemas"]


def test_not_blank_pattern_is_str_strip() -> None:
    assert all(not c.strip() for c in WHITESPACE)
    pattern = re.compile(NOT_BLANK_PATTERN)
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        char = chr(code)
        assert bool(pattern.search(char)) == bool(char.strip()), hex(code)


# --- the Bento services' /docs.json ------------------------------------------------------

BENTOML_SPEC: dict[str, Any] = {  # the shape BentoML 1.4 writes (trimmed)
    "openapi": "3.0.2",
    "paths": {
        "/extract": {
            "post": {
                "requestBody": {"content": {"application/json": {"schema": {"type": "object"}}}},
                "responses": {
                    "200": {"description": "Successful Response"},
                    "400": {"description": "Bad Request"},
                },
            }
        },
        "/healthz": {"get": {"responses": {"200": {"description": "OK"}}}},
    },
    "components": {"schemas": {"InvalidArgument": {"type": "object"}}},
}


@pytest.mark.parametrize("model", [ExtractionRequest, CategorizationRequest])
def test_bento_document_states_text_rules_and_refusals(model: type[BaseModel]) -> None:
    spec = document_api(copy.deepcopy(BENTOML_SPEC), "/extract", model)
    post = spec["paths"]["/extract"]["post"]
    text = post["requestBody"]["content"]["application/json"]["schema"]["properties"]["text"]
    assert (text["minLength"], text["pattern"]) == (1, NOT_BLANK_PATTERN)
    assert set(REFUSALS) == {"400", "413", "422"} <= set(post["responses"])
    assert str(MAX_BODY_BYTES) in post["responses"]["413"]["description"]
    error = spec["components"]["schemas"]["RequestErrorResponse"]
    assert error["required"] == ["error"]
    assert "/info" in spec["paths"]
    assert spec["openapi"] == "3.1.0"
    validator = jsonschema_rs.validator_for(
        post["requestBody"]["content"]["application/json"]["schema"]
    )
    for body in ({"text": "x"}, {"text": ""}, {"text": " \n"}, {"text": "\x1c"}, {"t": "x"}):
        assert validator.is_valid(body) == _accepts(model, body), body


def test_bento_page_loads_nothing_from_the_internet() -> None:
    page = (Path(served.__file__).parent / "main-openapi.html").read_bytes()
    assert b"googletagmanager" in page  # what BentoML 1.4 serves on /
    offline = offline_page(page).decode()
    loaded = re.findall(r'<(?:script|link|iframe|img)[^>]+(?:src|href)="([^"]+)"', offline)
    assert loaded and all(url.startswith("./static_content/") for url in loaded), loaded
    assert "validatorUrl: null" in offline and "swagger-initializer.js" not in offline
    assert offline_page(offline.encode()) == offline.encode()


def test_bento_document_of_another_route_is_left_alone() -> None:
    assert document_api({"paths": {}}, "/extract", ExtractionRequest) == {"paths": {}}


# --- the Swagger UI page -----------------------------------------------------------------


def test_swagger_page_and_its_assets_are_served_locally(app: Flask) -> None:
    client = app.test_client()
    page = client.get("/docs")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    html = page.text
    assert "validatorUrl: null" in html
    assert not re.search(r"(?:src|href|url)\s*[=:]\s*\"(?:https?:)?//", html)
    assets = re.findall(r'(?:src|href)="(docs/assets/[^"]+)"', html)
    assert {Path(a).suffix for a in assets} == {".js", ".css", ".svg"}
    for asset in assets:
        resp = client.get(f"/{asset}")
        assert resp.status_code == 200, asset
        assert resp.content_length or len(resp.data) > 100
        resp.close()
    assert 'url: "openapi.json"' in html
    missing = client.get("/docs/assets/js/nope.js")
    assert missing.status_code == 404 and missing.json["error"]
