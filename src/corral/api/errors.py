"""Exception handlers: every failure becomes the flat error body of PROTOCOL.md."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from corral.api.responses import JSONBody
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from corral.errors import CorralError, InvalidRequest
from corral.types.errors import ErrorCode


def error_response(error: CorralError, request: Request) -> JSONBody:
    """The response for a Corral error."""
    body = error.to_body()
    request_id = request.scope.get("corral.request_id")
    if request_id:
        body["request_id"] = request_id
    headers = {}
    retry_after = error.details.get("retry_after_s")
    if retry_after is not None:
        headers["Retry-After"] = str(max(1, round(retry_after)))
    return JSONBody(body, status_code=error.http_status, headers=headers)


def _pointer(location: tuple[Any, ...], body: Any) -> str:
    """JSON pointer of a pydantic error location, skipping union tags the body does not have."""
    parts: list[str] = []
    value = body
    for item in location:
        if isinstance(value, dict) and isinstance(item, str) and item in value:
            value = value[item]
        elif isinstance(value, list) and isinstance(item, int) and 0 <= item < len(value):
            value = value[item]
        elif isinstance(value, dict) and isinstance(item, str) and item not in value:
            parts.append(item)  # a missing field: point at where it should be
            value = None
            continue
        else:
            continue
        parts.append(str(item).replace("~", "~0").replace("/", "~1"))
    return "/" + "/".join(parts)


def _field(error: dict[str, Any], body: Any) -> str:
    location = tuple(error.get("loc", ()))
    extra = (error.get("ctx") or {}).get("field")
    if location and location[0] in ("query", "path", "header"):
        return str(location[1]) if len(location) > 1 else str(location[0])
    if location and location[0] == "body":
        location = location[1:]
    if extra:
        location = (*location, extra)
    if error.get("type") == "json_invalid":
        return "/"
    return _pointer(location, body)


def validation_error(errors: list[dict[str, Any]], body: Any) -> InvalidRequest:
    """One `invalid_request` naming the most specific offending field."""
    described = []
    for error in errors:
        field = _field(error, body)
        message = error.get("msg", "invalid value")
        if error.get("type") == "extra_forbidden":
            message = "unknown field"
        elif error.get("type") == "json_invalid":
            message = "the body is not valid JSON"
        elif (
            error.get("type") == "missing"
            and error.get("loc", ("",))[0] == "body"
            and len(error.get("loc", ())) == 1
        ):
            message = "a JSON body is required"
        described.append({"field": field, "message": message})
    described.sort(key=lambda item: -item["field"].count("/"))
    first = described[0] if described else {"field": "/", "message": "invalid request"}
    return InvalidRequest(
        f"{first['field']}: {first['message']}", field=first["field"], errors=described
    )


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""

    @app.exception_handler(CorralError)
    async def corral_error(request: Request, exc: CorralError) -> JSONBody:
        return error_response(exc, request)

    @app.exception_handler(RequestValidationError)
    async def request_invalid(request: Request, exc: RequestValidationError) -> JSONBody:
        return error_response(validation_error(list(exc.errors()), exc.body), request)

    @app.exception_handler(ValidationError)
    async def model_invalid(request: Request, exc: ValidationError) -> JSONBody:
        return error_response(validation_error(list(exc.errors()), None), request)  # type: ignore[arg-type]

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONBody:
        if exc.status_code == 404:
            error = CorralError(f"no route {request.url.path}", code=ErrorCode.NOT_FOUND)
        elif exc.status_code == 405:
            error = CorralError(
                f"{request.method} is not allowed on {request.url.path}",
                code=ErrorCode.METHOD_NOT_ALLOWED,
            )
        else:
            error = CorralError(str(exc.detail), code=ErrorCode.INVALID_REQUEST)
        response = error_response(error, request)
        response.status_code = exc.status_code
        return response
