"""Request dependencies: input storage can hold, the service context, and the guarded caller."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request

from corral.api import scopes
from corral.api.scopes import Access, Requirement, Scope
from corral.context import ServiceContext
from corral.domain.storable import MAX_JSON_DEPTH, unstorable
from corral.errors import InvalidRequest, NotFound
from corral.services import auth
from corral.services import workspaces as workspace_service
from corral.services.context import Principal
from corral.services.limits import Limiter

_SUSPECT_DIGITS = re.compile(rb"\d{19}")


def _may_beunstorable(raw: bytes) -> bool:
    """Whether a body needs the full walk: a cheap look at the raw bytes.

    Only a body holding an escape sequence, a non-finite number, a huge integer or deep
    nesting can be unstorable.
    """
    return (
        b"\\u" in raw
        or b"NaN" in raw
        or b"Infinity" in raw
        or raw.count(b"[") + raw.count(b"{") >= MAX_JSON_DEPTH
        or _SUSPECT_DIGITS.search(raw) is not None
    )


async def _json_body(request: Request) -> Any:
    if "json" not in request.headers.get("content-type", ""):
        return None
    raw = await request.body()
    if not raw or not _may_beunstorable(raw):
        return None
    try:
        return await request.json()
    except ValueError:
        return None  # a route that reads the body reports it as not JSON


async def storable_input(request: Request) -> None:
    """Refuse input that only some databases could store, so every backend answers alike.

    PostgreSQL rejects NUL characters; the JSON encoder of the storage layer rejects lone
    surrogates, integers beyond 64 bits, NaN and infinities, and deep nesting.
    """
    for value in request.path_params.values():
        if "\x00" in value:
            raise NotFound(f"nothing has the id {value!r}")
    for name, value in [*request.query_params.multi_items(), *request.headers.items()]:
        if "\x00" in value:
            raise InvalidRequest(f"{name} must not contain NUL (\\u0000) characters", field=name)
    found = unstorable(await _json_body(request), "")
    if found is not None:
        field, problem = found
        raise InvalidRequest(f"{field}: {problem}", field=field)


def service_context(request: Request) -> ServiceContext:
    """The process-wide service context."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


@dataclass(frozen=True, slots=True)
class Call:
    """Who is calling and the services they call: what every route needs, resolved once."""

    ctx: ServiceContext
    principal: Principal


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key")


async def authenticated(request: Request) -> Call:
    """The caller behind the request's API key, once its input is known to be storable."""
    ctx = service_context(request)
    principal = await auth.authenticate(ctx, request.app.state.key_cache, _token(request))
    request.state.principal = principal
    await storable_input(request)
    return Call(ctx, principal)


RATE_LIMIT_SCOPE_KEY = "corral.rate_limit"
"""Where `guarded` leaves the caller's `Allowance`, which the middleware turns into headers."""


def route_operation(request: Request) -> scopes.Operation:
    """The matched route's (method, path template), as `scopes.ROUTES` keys it.

    FastAPI puts the matched route in the ASGI scope.
    """
    return request.method, getattr(request.scope.get("route"), "path", "")


def require(principal: Principal, requirement: Requirement) -> None:
    """Refuse with `insufficient_scope` a key that lacks the scope `requirement` names."""
    if isinstance(requirement, Scope):
        auth.require_scope(principal, requirement.name)


async def guarded(request: Request) -> Call:
    """The caller, once its key allows what the route's row in `scopes.ROUTES` asks.

    Routes take this single dependency: each one FastAPI resolves costs time on every request.
    """
    operation = route_operation(request)
    requirement = scopes.requirement(*operation)
    if requirement is Access.OPERATOR:
        return await operator(request)
    call = await authenticated(request)
    await admit(request, call, operation, requirement)
    return call


async def admit(
    request: Request, call: Call, operation: scopes.Operation, requirement: Requirement
) -> None:
    """Let an authenticated caller through: the route's scope, then its rates.

    Every request counts against the key's and the workspace's rates; the routes that submit
    work (`scopes.SUBMITS`) also against the workspace's submits.
    """
    require(call.principal, requirement)
    limiter: Limiter = request.app.state.limiter
    allowance = await limiter.request(call.principal)
    if allowance is not None:
        request.scope[RATE_LIMIT_SCOPE_KEY] = allowance
    if operation in scopes.SUBMITS:
        await limiter.submit(call.principal)


async def operator(request: Request) -> Call:
    """The server's operator, who manages workspaces and belongs to none."""
    ctx = service_context(request)
    workspace_service.check_operator(ctx, _token(request))
    await storable_input(request)
    return Call(ctx, workspace_service.OPERATOR)


Guarded = Annotated[Call, Depends(guarded)]
"""A route's caller, checked against the scope table."""
