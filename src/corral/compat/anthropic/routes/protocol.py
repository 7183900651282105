"""What every route of the API shares: its error envelope, its caller and its answers."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from corral.api import scopes
from corral.api.deps import Call, admit, authenticated, route_operation
from corral.api.errors import error_headers, validation_error
from corral.api.openapi import PUBLIC_ERRORS, Responses, errors
from corral.api.responses import JSONBody
from corral.compat.anthropic.translate import errors as error_translation
from corral.compat.anthropic.wire.common import AnthropicErrorBody
from corral.errors import (
    Forbidden,
    InsufficientScope,
    InvalidRequest,
    NotFound,
    RateLimited,
    ServiceError,
    Unauthorized,
    Unavailable,
    WorkspaceSuspended,
)

PREFIX = "/anthropic/v1"


def error_response(error: ServiceError, request: Request) -> JSONBody:
    """A Corral error in the API's envelope."""
    status = error.http_status
    body = error_translation.error_body(
        status, error.to_body(), request.scope.get("corral.request_id")
    )
    headers = {**error_headers(error), **error_translation.retry_headers(status)}
    if request_id := request.scope.get("corral.request_id"):
        headers["request-id"] = request_id
    return JSONBody(body, status_code=status, headers=headers)


class ProtocolRoute(APIRoute):
    """A route whose failures, input validation included, answer in the API's envelope."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped to render errors as the API does."""
        handle = super().get_route_handler()

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except ServiceError as error:
                return error_response(error, request)
            except RequestValidationError as invalid:
                return error_response(
                    validation_error(list(invalid.errors()), invalid.body), request
                )
            except ValidationError as invalid:
                found = [dict(e) for e in invalid.errors()]
                return error_response(validation_error(found, None), request)
            except StarletteHTTPException as refused:  # a body that is not JSON, say
                response = error_response(InvalidRequest(str(refused.detail), field="/"), request)
                response.status_code = refused.status_code
                return response

        return handler


def api_errors(*kinds: type[ServiceError]) -> Responses:
    """These errors' responses, with the API's envelope."""
    return errors(*kinds, model=AnthropicErrorBody)


ERRORS: Responses = {
    **api_errors(
        InvalidRequest,
        Unauthorized,
        InsufficientScope,
        WorkspaceSuspended,
        Forbidden,
        NotFound,
        RateLimited,
        Unavailable,
    ),
    **errors(*PUBLIC_ERRORS),
}
"""What every route answers before its work: refusals of the key and of the input."""


async def caller(request: Request) -> Call:
    """The key's caller, allowed what the route's row in `corral.api.scopes.ROUTES` asks.

    `anthropic-version`, `anthropic-beta` and `anthropic-workspace-id` are accepted; a key
    belongs to one workspace, which is the one every request acts in.
    """
    call = await authenticated(request)
    operation = route_operation(request)
    await admit(request, call, operation, scopes.requirement(*operation))
    return call


Caller = Annotated[Call, Depends(caller)]
