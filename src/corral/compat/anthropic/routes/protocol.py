"""What every route of the API shares: its error envelope, its caller and its answers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from corral.api import scopes
from corral.api.deps import Call, admit, authenticated, route_operation
from corral.api.errors import error_headers
from corral.api.facade_routes import REFUSALS, FacadeRoute
from corral.api.openapi import PUBLIC_ERRORS, Responses, errors
from corral.api.responses import JSONBody
from corral.compat.anthropic.translate import errors as error_translation
from corral.compat.anthropic.wire.common import AnthropicErrorBody
from corral.errors import (
    ServiceError,
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


class ProtocolRoute(FacadeRoute):
    """A route whose failures, input validation included, answer in the protocol's shape."""

    render_error = staticmethod(error_response)


def api_errors(*kinds: type[ServiceError]) -> Responses:
    """These errors' responses, with the API's envelope."""
    return errors(*kinds, model=AnthropicErrorBody)


ERRORS: Responses = {
    **api_errors(*REFUSALS),
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
