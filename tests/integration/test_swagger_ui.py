"""The Swagger UI pages of the deployed services in headless Chromium (issue 14).

Each page loads with no failed request, fetches nothing but from its own service (the
assets come from a wheel in the image, nothing from a CDN; the browser cannot resolve any
other name), throws no script error, and lists every operation of its OpenAPI document,
which a unit test holds equal to the routes of the app. The agent's and the RAG AI's page
is ours (``/docs``); a Bento's is BentoML's own on ``/``, made offline by aidock's middleware
(it loaded Google Tag Manager).
"""

from __future__ import annotations

import pytest
import requests
from conftest import RAG_URL
from devtools import open_page

AGENT_URL = "http://127.0.0.1:8700"
EXTRACTION_URL = "http://127.0.0.1:3001"
METHODS = {"get", "put", "post", "delete", "patch"}
# Every operation Swagger UI rendered: [method, path].
LISTED = """Array.from(document.querySelectorAll('.opblock')).map(b => [
  b.querySelector('.opblock-summary-method').textContent.trim().toLowerCase(),
  b.querySelector('.opblock-summary-path').getAttribute('data-path')])"""
RENDERED = "document.querySelectorAll('.opblock').length > 0"


# (service, page, its document, an asset it must have fetched)
PAGES = {
    "rag": (RAG_URL, "/docs", "/openapi.json", "/docs/assets/js/swagger-ui-bundle.js"),
    "agent": (AGENT_URL, "/docs", "/openapi.json", "/docs/assets/js/swagger-ui-bundle.js"),
    "extraction": (EXTRACTION_URL, "/", "/docs.json", "/static_content/swagger-ui-bundle.js"),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_swagger_page_lists_every_route_offline(name: str) -> None:
    base, page, document, asset = PAGES[name]
    spec = requests.get(f"{base}{document}", timeout=10).json()
    operations = {(m, p) for p, item in spec["paths"].items() for m in item if m in METHODS}

    report = open_page(f"{base}{page}", LISTED, done=RENDERED)

    assert not report.failed_requests, report.failed_requests
    elsewhere = [r.url for r in report.requests if not r.url.startswith((f"{base}/", "data:"))]
    assert not elsewhere, elsewhere
    fetched = {r.url.removeprefix(base) for r in report.requests}
    assert {page, document, asset} <= fetched
    assert not report.exceptions, report.exceptions
    assert report.done, f"no operation rendered within the timeout: {report.value}"
    assert {tuple(op) for op in report.value} == operations
