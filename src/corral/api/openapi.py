"""The OpenAPI document: the error responses Corral really sends, and how a caller authenticates.

Routes declare their failures with `errors(...)`, naming classes of the one error tree
(`corral.errors`): each HTTP status becomes one response with the protocol's error body, its
description listing the codes it stands for, so the document says what the server says.
`install` assembles the rest: the two ways of sending a key as security schemes, required by
every operation whose row in `corral.api.scopes.ROUTES` is not public, and no 422 (FastAPI
documents one on every operation that takes input; Corral answers 400 `invalid_request`).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from corral.api import scopes
from corral.errors import (
    Forbidden,
    InsufficientScope,
    InvalidRequest,
    PayloadTooLarge,
    RateLimited,
    ServiceError,
    Unauthorized,
    Unavailable,
    WorkspaceSuspended,
)
from corral.types.errors import ErrorBody

__all__ = [
    "BODY_ERRORS",
    "KEYED_ERRORS",
    "OPERATOR_ERRORS",
    "PUBLIC_ERRORS",
    "SECURITY_SCHEMES",
    "ErrorKinds",
    "Responses",
    "errors",
    "install",
]

Responses = dict[int | str, dict[str, Any]]
"""What FastAPI takes as `responses=`: a response object by status."""
ErrorKinds = tuple[type[ServiceError], ...]
"""Classes of the error tree an operation may raise: its failures, in the one vocabulary."""

PUBLIC_ERRORS: Final[ErrorKinds] = (ServiceError,)
"""What any operation may answer: an unexpected fault (500 `internal_error`)."""
KEYED_ERRORS: Final[ErrorKinds] = (
    InvalidRequest,
    Unauthorized,
    InsufficientScope,
    WorkspaceSuspended,
    RateLimited,
    ServiceError,
    Unavailable,
)
"""What every operation behind a workspace's key may answer, before it does anything else.

Any input, a header included, may be refused (400); the key may be missing, lack the scope or
belong to a suspended workspace; the key or its workspace may be over its rate; and every key is
looked up in the database, which may be out of reach (503).
"""
OPERATOR_ERRORS: Final[ErrorKinds] = (
    InvalidRequest,
    Unauthorized,
    Forbidden,
    ServiceError,
    Unavailable,
)
"""What every operation of the server's operator may answer (no rates apply to that key)."""
BODY_ERRORS: Final[ErrorKinds] = (PayloadTooLarge,)
"""What an operation that reads a body may also answer: it is over `CORRAL_MAX_BODY_BYTES`."""

_RETRY_AFTER: Final = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "integer", "minimum": 1},
    }
}

SECURITY_SCHEMES: Final[Mapping[str, Mapping[str, str]]] = MappingProxyType(
    {
        "bearer": {
            "type": "http",
            "scheme": "bearer",
            "description": "An API key, sent as `Authorization: Bearer <key>`.",
        },
        "apiKey": {
            "type": "apiKey",
            "in": "header",
            "name": "X-API-Key",
            "description": "An API key, sent as `X-API-Key: <key>`.",
        },
    }
)
"""The two ways of sending a key (PROTOCOL.md); either one will do."""


def _meaning(kind: type[ServiceError]) -> str:
    return inspect.cleandoc(kind.__doc__ or "").split("\n\n", 1)[0]


def errors(*kinds: type[ServiceError], model: type[BaseModel] = ErrorBody) -> Responses:
    """The `responses=` of these errors: one per HTTP status, with the codes it stands for.

    `model` is the body's schema: the protocol's error body unless a facade speaks another.
    """
    by_status: dict[int, list[type[ServiceError]]] = {}
    for kind in kinds:
        found = by_status.setdefault(kind.http_status, [])
        if kind not in found:
            found.append(kind)
    responses: Responses = {}
    for status, found in sorted(by_status.items()):
        lines = [f"`{kind.code}`: {_meaning(kind)}" for kind in found]
        response: dict[str, Any] = {"model": model, "description": "\n\n".join(lines)}
        if status == RateLimited.http_status:
            response["headers"] = _RETRY_AFTER
        responses[status] = response
    return responses


def _access_note(requirement: scopes.Requirement) -> str | None:
    """What an operation's description adds about the key it needs."""
    if isinstance(requirement, scopes.Scope):
        return f"Needs a key with the `{requirement.name}` scope."
    if requirement is scopes.OPERATOR:
        return "Needs the server's operator key (`CORRAL_OPERATOR_KEY`), not a workspace's key."
    return None


def _secure(operation: dict[str, Any], requirement: scopes.Requirement) -> None:
    if requirement is scopes.PUBLIC:
        return
    # One requirement per scheme: any single one satisfies the operation.
    operation["security"] = [{name: []} for name in SECURITY_SCHEMES]
    note = _access_note(requirement)
    if note is not None:
        description = operation.get("description")
        operation["description"] = f"{description}\n\n{note}" if description else note


_CONVERTOR = re.compile(r"\{(\w+):\w+\}")


def _requirements() -> dict[tuple[str, str], scopes.Requirement]:
    """`scopes.ROUTES` keyed as the document writes operations (`get`, `{path}`, no `:path`)."""
    return {
        (method.lower(), _CONVERTOR.sub(r"{\1}", template)): requirement
        for (method, template), requirement in scopes.ROUTES.items()
    }


def _document(app: FastAPI) -> dict[str, Any]:
    document = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    components = document.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    components["securitySchemes"] = {name: dict(s) for name, s in SECURITY_SCHEMES.items()}
    requirements = _requirements()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            operation["responses"] = dict(sorted(responses.items()))
            _secure(operation, requirements[method, path])
    return document


def install(app: FastAPI) -> None:
    """Serve the assembled document at `/openapi.json` (built once, at the first request)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
