"""Exception handlers: every failure becomes the flat error body of PROTOCOL.md."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from corral.api.responses import JSONBody
from corral.api.scopes import app_routes
from corral.errors import InvalidRequest, ServiceError
from corral.types.errors import ErrorCode


def error_response(error: ServiceError, request: Request) -> JSONBody:
    """The response for a Corral error."""
    body = error.to_body()
    request_id = request.scope.get("corral.request_id")
    if request_id:
        body["request_id"] = request_id
    return JSONBody(body, status_code=error.http_status, headers=error_headers(error))


def error_headers(error: ServiceError) -> dict[str, str]:
    """The headers an error's answer carries whatever its body: `Retry-After` (whole seconds)."""
    retry_after = error.details.get("retry_after_s")
    if retry_after is None:
        return {}
    return {"Retry-After": str(max(1, round(retry_after)))}


_UNION_TAG_ERRORS = frozenset({"union_tag_invalid", "union_tag_not_found"})
_NOT_AN_OBJECT_ERRORS = frozenset({"model_attributes_type", "model_type", "dict_type"})


def _pointer(location: tuple[Any, ...], body: Any, *, leaf_may_be_absent: bool) -> str:
    """JSON pointer of a pydantic error location, skipping union tags the body does not have.

    Only the last item may name a key the body lacks (a missing field, or one named by the
    error); any other absent key is a union tag such as `client` or `list[InputMessage]`.
    """
    parts: list[str] = []
    value = body
    last = len(location) - 1
    for index, item in enumerate(location):
        in_dict = isinstance(value, dict) and isinstance(item, str) and item in value
        in_list = isinstance(value, list) and isinstance(item, int) and 0 <= item < len(value)
        if in_dict or in_list:
            value = value[item]
        elif index == last and leaf_may_be_absent and isinstance(value, dict):
            value = None
        else:
            continue
        parts.append(str(item).replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(parts)


def _field(error: dict[str, Any], body: Any) -> str:
    location = tuple(error.get("loc", ()))
    context = error.get("ctx") or {}
    extra = context.get("field")
    if error.get("type") in _UNION_TAG_ERRORS:
        extra = str(context.get("discriminator", "type")).strip("'")
    if location and location[0] in ("query", "path", "header"):
        return str(location[1]) if len(location) > 1 else str(location[0])
    if location and location[0] == "body":
        location = location[1:]
    if extra:
        location = (*location, extra)
    if error.get("type") == "json_invalid":
        return "/"
    return _pointer(
        location, body, leaf_may_be_absent=bool(extra) or error.get("type") == "missing"
    )


def _message(error: dict[str, Any], field: str) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "json_invalid":
        return "the body is not valid JSON"
    if kind == "missing" and tuple(error.get("loc", ())) == ("body",):
        return "a JSON body is required"
    if kind in _NOT_AN_OBJECT_ERRORS and field == "/":
        return "the body must be a JSON object"
    return str(error.get("msg", "invalid value")).removeprefix("Value error, ")


def _is_type_mismatch(error: dict[str, Any]) -> bool:
    """True for "not a string"-like errors, which a union raises for every other member."""
    return str(error.get("type", "")).endswith("_type")


def validation_error(errors: list[dict[str, Any]], body: Any) -> InvalidRequest:
    """One `invalid_request` naming the most specific offending field."""
    ranked = sorted(errors, key=lambda e: (-_field(e, body).count("/"), _is_type_mismatch(e)))
    described = []
    for error in ranked:
        field = _field(error, body)
        described.append({"field": field, "message": _message(error, field)})
    first = described[0] if described else {"field": "/", "message": "invalid request"}
    return InvalidRequest(
        f"{first['field']}: {first['message']}", field=first["field"], errors=described
    )


def route_methods(request: Request) -> tuple[set[str], set[str]]:
    """The methods the app's documented routes, and its hidden ones, answer at the request's path.

    Starlette names only the methods of the first route matching the path, while a path's
    methods are often spread over several routes (`GET` and `DELETE /v1/runs/{run_id}`).
    """
    path = request.scope["path"]
    documented: set[str] = set()
    hidden: set[str] = set()
    for route in app_routes(request.app):
        methods, pattern = getattr(route, "methods", None), getattr(route, "path_regex", None)
        if methods and pattern is not None and pattern.match(path):
            # A catch-all that answers a protocol's 404 must not advertise its methods.
            into = documented if getattr(route, "include_in_schema", True) else hidden
            into.update(methods)
    return documented, hidden


def allowed_methods(request: Request) -> str | None:
    """The `Allow` of a 405: every method some documented route answers at the request's path.

    Routes left out of the OpenAPI document count only where no documented one matches.
    """
    documented, hidden = route_methods(request)
    methods = documented or hidden
    return ", ".join(sorted(methods)) if methods else None


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(ServiceError)
    async def corral_error(request: Request, exc: ServiceError) -> JSONBody:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONBody:
        return error_response(validation_error(list(exc.errors()), exc.body), request)

    @app.exception_handler(ValidationError)
    async def model_invalid(request: Request, exc: ValidationError) -> JSONBody:
        return error_response(validation_error(list(exc.errors()), None), request)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        headers = dict(exc.headers or {})
        if exc.status_code == 404:
            error = ServiceError(f"no route {request.url.path}", code=ErrorCode.NOT_FOUND)
        elif exc.status_code == 405:
            error = ServiceError(
                f"{request.method} is not allowed on {request.url.path}",
                code=ErrorCode.METHOD_NOT_ALLOWED,
            )
            allow = allowed_methods(request)
            if allow is not None:
                headers["Allow"] = allow
        else:
            error = InvalidRequest(str(exc.detail), field="/")
        response = error_response(error, request)
        response.status_code = exc.status_code
        response.headers.update(headers)
        return response
