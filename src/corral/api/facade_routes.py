"""The route class of foreign protocols: every failure answers in the protocol's error body.

A facade (`corral.compat`) subclasses `FacadeRoute` and says how a Corral error looks in its
protocol; input validation, a body that is not JSON and service errors all go through it.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from corral.api.errors import validation_error
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

__all__ = ["REFUSALS", "FacadeRoute"]

REFUSALS: tuple[type[ServiceError], ...] = (
    InvalidRequest,
    Unauthorized,
    InsufficientScope,
    WorkspaceSuspended,
    Forbidden,
    NotFound,
    RateLimited,
    Unavailable,
)
"""What any facade route may answer before its work: refusals of the key and of the input.

A body over the size limit, and an unexpected fault, are refused before a route runs: those
answers have Corral's own error body."""


class FacadeRoute(APIRoute):
    """A route whose failures are rendered by `render_error`, the protocol's own."""

    @staticmethod
    def render_error(error: ServiceError, request: Request) -> Response:
        """The protocol's answer for `error`."""
        raise NotImplementedError

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """The route's handler, wrapped to render errors as the protocol does."""
        handle = super().get_route_handler()
        render = type(self).render_error

        async def handler(request: Request) -> Response:
            try:
                return await handle(request)
            except ServiceError as error:
                return render(error, request)
            except RequestValidationError as invalid:
                return render(validation_error(list(invalid.errors()), invalid.body), request)
            except ValidationError as invalid:
                found = [dict(e) for e in invalid.errors()]
                return render(validation_error(found, None), request)
            except StarletteHTTPException as refused:  # a body that is not JSON, say
                response = render(InvalidRequest(str(refused.detail), field="/"), request)
                response.status_code = refused.status_code
                return response

        return handler
