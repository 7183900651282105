"""The application factory: `create_app(settings)` wires storage, broker, worker and routes."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator

from fastapi import FastAPI

from corral import __version__, private_files
from corral.api import errors, openapi
from corral.api.middleware import RequestMiddleware
from corral.api.routes import agents, files, mantyx, runs, service, sessions
from corral.providers import catalog
from corral.providers.registry import ModelRegistry
from corral.pubsub.base import Broker
from corral.sandbox.capabilities import Capabilities, probe
from corral.security.sealed import SECRET_FILE, SecretBox, load_or_create_secret
from corral.services import auth
from corral.services.auth import KeyCache
from corral.services.context import ServiceContext
from corral.settings import Settings
from corral.storage import migrate
from corral.storage.database import Database
from corral.worker.runner import Worker

logger = logging.getLogger(__name__)


def make_broker(settings: Settings, database: Database) -> Broker:
    """The broker the settings ask for."""
    kind = settings.effective_broker
    if kind == "redis":
        from corral.pubsub.redis import RedisBroker

        if not settings.redis_url:
            raise ValueError("CORRAL_BROKER=redis needs CORRAL_REDIS_URL")
        return RedisBroker(settings.redis_url)
    if kind == "postgres":
        from corral.pubsub.postgres import PostgresBroker

        if database.dialect != "postgresql":
            raise ValueError("CORRAL_BROKER=postgres needs a PostgreSQL database")
        return PostgresBroker(database.pg_dsn)
    from corral.pubsub.memory import MemoryBroker

    return MemoryBroker()


def prepare_data_dir(settings: Settings) -> None:
    """Create the data directory readable by this user only, and tighten what it already holds.

    The SQLite database, wherever it lives, is made private when it is opened.
    """
    private_files.make_dir(settings.data_dir)
    for name in (auth.ADMIN_KEY_FILE, SECRET_FILE):
        private_files.tighten(settings.data_dir / name)


def sandbox_of(settings: Settings) -> Capabilities:
    """What this host's sandbox enforces; a `bwrap` setting the host cannot honour is an error."""
    capabilities = probe(settings.sandbox)
    if settings.sandbox == "bwrap" and not capabilities.enforced:
        raise ValueError(f"CORRAL_SANDBOX=bwrap but {capabilities.detail}; fix: {capabilities.fix}")
    data = settings.data_dir.resolve()
    for mount in settings.sandbox_mounts:
        path = mount.resolve()
        if path == data or data.is_relative_to(path) or path.is_relative_to(data):
            raise ValueError(f"CORRAL_SANDBOX_MOUNTS may not show the data directory ({mount})")
    return capabilities


def build_context(settings: Settings) -> ServiceContext:
    """The service context of one process (not yet connected)."""
    prepare_data_dir(settings)
    database = Database(settings.effective_database_url, schema=settings.database_schema)
    secret = (
        settings.secret_key.get_secret_value()
        if settings.secret_key is not None
        else load_or_create_secret(settings.data_dir)
    )
    return ServiceContext(
        settings=settings,
        database=database,
        broker=make_broker(settings, database),
        models=ModelRegistry(
            catalog.load(settings.model_catalog),
            environ=os.environ,
            default=settings.default_model,
        ),
        secrets=SecretBox(secret),
        sandbox=sandbox_of(settings),
    )


@contextlib.asynccontextmanager
async def running(ctx: ServiceContext, *, with_worker: bool) -> AsyncIterator[Worker | None]:
    """Connect, migrate, bootstrap and (optionally) run a worker for the duration."""
    await ctx.database.connect()
    if ctx.settings.auto_migrate:
        await migrate.upgrade(ctx.database)
    await ctx.broker.start()
    worker = None
    try:
        await auth.bootstrap(ctx)
        if with_worker:
            worker = Worker(
                database=ctx.database,
                broker=ctx.broker,
                models=ctx.models,
                secrets=ctx.secrets,
                settings=ctx.settings,
                sandbox=ctx.sandbox,
            )
            await worker.start()
        yield worker
    finally:
        if worker is not None:
            await worker.stop(ctx.settings.shutdown_grace_s)
        await ctx.broker.close()
        await ctx.models.aclose()
        await ctx.database.close()


def create_app(settings: Settings, *, ctx: ServiceContext | None = None) -> FastAPI:
    """The Corral HTTP application."""
    context = ctx or build_context(settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with running(context, with_worker=settings.embedded_worker) as worker:
            app.state.worker = worker
            yield

    app = FastAPI(
        title="Corral",
        version=__version__,
        description="Durable, observable LLM agent runs behind one HTTP API.",
        lifespan=lifespan,
    )
    app.state.ctx = context
    app.state.key_cache = KeyCache(settings.key_cache_s)
    errors.install(app)
    openapi.install(app)
    for module in (runs, sessions, agents, files, service, mantyx):
        app.include_router(module.router)
    app.add_middleware(
        RequestMiddleware,
        max_body_bytes=settings.max_body_bytes,
        route_limits={("POST", "/v1/files"): files.upload_limit(settings)},
    )
    return app
