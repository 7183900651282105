"""The OpenAPI document, with the error responses Corral really sends.

FastAPI documents a 422 validation error on every operation; Corral answers 400 with the
protocol's error body instead, and every operation may also answer 401, 404 or 500.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from corral.types.errors import ErrorBody

_ERROR_REF = {"$ref": "#/components/schemas/ErrorBody"}
_COMMON = {
    "400": "Invalid request: `error` is `invalid_request` or more specific, `field` names the "
    "offending input.",
    "401": "Missing or invalid API key (`unauthorized`).",
    "404": "No such object in this workspace (`not_found`).",
    "500": "Unexpected server fault (`internal_error`).",
}


def _error_response(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def install(app: FastAPI) -> None:
    """Serve the corrected document at `/openapi.json`."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        schemas.pop("HTTPValidationError", None)
        schemas.pop("ValidationError", None)
        schemas["ErrorBody"] = ErrorBody.model_json_schema(
            ref_template="#/components/schemas/{model}"
        )
        for path, operations in document.get("paths", {}).items():
            public = not path.startswith("/v1/")
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                responses.pop("422", None)
                takes_input = "parameters" in operation or "requestBody" in operation
                for status, description in _COMMON.items():
                    if (public and status in ("401", "404")) or (
                        status == "400" and not takes_input
                    ):
                        continue
                    responses.setdefault(status, _error_response(description))
        app.openapi_schema = document
        return document

    app.openapi = openapi  # type: ignore[method-assign]
