"""The application factory: `create_app(settings)` is the HTTP API over the process's services.

The process itself (context, worker, start and stop) is wired by `corral.process`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from fastapi import FastAPI

from corral import compat, console
from corral._version import __version__
from corral.api import docs_pages, errors, openapi, scopes
from corral.api.middleware import RequestMiddleware
from corral.api.routes import (
    agents,
    approvals,
    audit,
    environments,
    files,
    hooks,
    keys,
    routines,
    runs,
    secrets,
    service,
    sessions,
    usage,
    webhooks,
    workspaces,
)
from corral.context import ServiceContext
from corral.process import build_context, running
from corral.pubsub.base import KEYS_CHANNEL
from corral.services.auth import KeyCache
from corral.services.limits import Limiter
from corral.settings import Settings

__all__ = ["create_app"]


def create_app(settings: Settings, *, ctx: ServiceContext | None = None) -> FastAPI:
    """The Corral HTTP application."""
    compat.register()  # the facades' webhook formats, for this process's sender
    context = ctx or build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(context, with_worker=settings.embedded_worker) as worker:
            app.state.worker = worker
            with context.broker.subscribe(KEYS_CHANNEL, on_message=key_cache.forget_all):
                try:
                    yield
                finally:
                    await limiter.aclose()

    app = FastAPI(
        title="Corral",
        version=__version__,
        description="Durable, observable LLM agent runs behind one HTTP API.",
        lifespan=lifespan,
        # `docs_pages` serves /docs and /redoc from the server itself, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.ctx = context
    app.state.key_cache = key_cache = KeyCache(settings.key_cache_s)
    app.state.limiter = limiter = Limiter(settings)
    errors.install(app)
    openapi.install(app)
    routers = [
        *(
            module.router
            for module in (
                runs,
                approvals,
                sessions,
                agents,
                environments,
                files,
                keys,
                secrets,
                audit,
                usage,
                webhooks,
                routines,
                hooks,
                workspaces,
                service,
            )
        ),
        *compat.routers(),
        docs_pages.router,
        console.router,  # last: its pages answer only where nothing else does
    ]
    for router in routers:
        app.include_router(router)  # never with a prefix: `scopes` reads each route's own path
    app.state.routers = routers
    scopes.check_coverage(app)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        route_limits={("POST", "/v1/files"): files.upload_limit(settings)},
    )
    return app
