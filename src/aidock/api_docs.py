"""What the OpenAPI documents of aidock's Flask services share, and their Swagger UI page.

``component_schemas`` turns the wire models into ``components/schemas``: request models in
pydantic's validation mode, the very models ``parse_json_body`` validates with, so every
constraint the service enforces is in the document (``aidock.schemas.constraints`` puts the
rules pydantic cannot express itself there too); answers in serialization mode.

The Swagger UI page (``GET /docs``) is served offline: the page and its assets come from
this host only, Swagger UI 5 (it reads OpenAPI 3.1) as shipped inside the
``flask-openapi3-swagger`` wheel, which the images install from their hashed lock like any
dependency. Only its static files are used (``templates/swagger``); nothing of
flask-openapi3 is imported. The online validator badge is off (``validatorUrl: null``): it
would fetch an image from the internet.

Considered and not taken (issue 14/15, spec and behaviour from one source):

- flask-openapi3 (its ``OpenAPI`` app, ``body=Model``): it validates bodies itself, from
  ``request.get_json(silent=True)``: a wrong Content-Type or broken JSON becomes a 422 about
  a missing dict instead of our 415/400, ``NaN`` passes, and an oversize chunked body is cut
  at ``MAX_CONTENT_LENGTH`` and parsed (issue 15 item 5, which ``parse_json_body`` fixes). It
  writes the same pydantic schemas, so the gaps of issue 15 item 6 (rules in validators,
  ``9.0``) would remain; they are fixed in the models, which any generator then reads.
- spectree: the same ``get_json(silent=True) or {}`` validation, and its pages load
  Swagger UI from a CDN unless another package (offapi) is added.
- swagger-ui-bundle (assets only): Swagger UI 4.15, which cannot read OpenAPI 3.1;
  swagger-ui-py: 25 MB of assets, the Swagger Editor included.

So this module keeps the generator (a page of code over the models) and takes only the
assets from a wheel.
"""

from __future__ import annotations

import html
from collections.abc import Iterable
from importlib import resources
from pathlib import Path
from typing import Any

from flask import Blueprint, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from aidock.schemas.errors import ErrorResponse

SWAGGER_UI_PACKAGE = "flask_openapi3_swagger"
DOCS_PATH = "/docs"
ASSETS_PATH = "/docs/assets"
# Endpoint of the assets route: files, not API, so not in the OpenAPI document.
ASSETS_ENDPOINT = "docs.static"

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>{title}</title>
  <link rel="icon" type="image/svg+xml" href="{assets}/images/swagger.svg">
  <link rel="stylesheet" href="{assets}/css/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="{assets}/js/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({{
      url: "{spec}",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout"
    }});
  </script>
</body>
</html>
"""


def component_schemas(
    inputs: Iterable[type[BaseModel]], outputs: Iterable[type[BaseModel]]
) -> dict[str, Any]:
    """``components/schemas`` of request models (as validated) and answers (as serialized)."""
    models = [(m, "validation") for m in inputs] + [(m, "serialization") for m in outputs]
    _, defs = models_json_schema(
        [*models, (ErrorResponse, "serialization")],  # type: ignore[list-item]
        ref_template="#/components/schemas/{model}",
    )
    return dict(defs.get("$defs", {}))


def ref(model: str) -> dict[str, str]:
    """A reference to ``components/schemas/<model>``."""
    return {"$ref": f"#/components/schemas/{model}"}


def answer(description: str, model: str | None = None, media: str = "application/json") -> dict:
    """A response object, with a body of schema ``model`` (a ``$ref``) when one is given."""
    response: dict[str, Any] = {"description": description}
    if model is not None:
        response["content"] = {media: {"schema": ref(model)}}
    return response


def errors(codes: dict[int, str]) -> dict[str, Any]:
    """Error responses ``{status: description}``, each with the ErrorResponse body."""
    return {str(code): answer(text, "ErrorResponse") for code, text in sorted(codes.items())}


def swagger_ui_assets() -> Path:
    """The directory of Swagger UI's css/, js/ and images/ inside the installed wheel."""
    return Path(str(resources.files(SWAGGER_UI_PACKAGE) / "templates" / "swagger"))


def docs_blueprint(title: str, spec_path: str = "/openapi.json") -> Blueprint:
    """``GET /docs`` (Swagger UI of the document at ``spec_path``) and its assets."""
    assets = swagger_ui_assets()
    if not (assets / "js" / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"Swagger UI assets missing in {assets} ({SWAGGER_UI_PACKAGE})")
    blueprint = Blueprint("docs", __name__, static_folder=assets, static_url_path=ASSETS_PATH)
    # Relative URLs: the page works behind a proxy that mounts the service under a prefix.
    page = _PAGE.format(
        title=html.escape(title),
        assets=ASSETS_PATH.lstrip("/"),
        spec=spec_path.lstrip("/"),
    )

    @blueprint.get(DOCS_PATH)
    def docs() -> Response:
        return Response(page, content_type="text/html; charset=utf-8")

    return blueprint
