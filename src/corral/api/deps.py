"""Request dependencies: the service context and the authenticated, authorised caller."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import Request

from corral.services import auth
from corral.services.context import Principal, ServiceContext


async def service_context(request: Request) -> ServiceContext:
    """The process-wide service context."""
    ctx: ServiceContext = request.app.state.ctx
    return ctx


def _token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key")


async def authenticated(request: Request) -> Principal:
    """The caller behind the request's API key."""
    principal = await auth.authenticate(
        request.app.state.ctx, request.app.state.key_cache, _token(request)
    )
    request.state.principal = principal
    return principal


def scope(required: str) -> Callable[[Request], Awaitable[Principal]]:
    """A dependency that authenticates and requires `required`."""

    async def dependency(request: Request) -> Principal:
        principal = await authenticated(request)
        auth.require_scope(principal, required)
        return principal

    dependency.__name__ = f"requires_{required.replace(':', '_')}"
    return dependency
