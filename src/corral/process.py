"""One Corral process, wired: its service context, and what runs for as long as it lives.

`corral serve` runs the HTTP API over this (`corral.api.app`); `corral worker` runs it alone,
and so imports no web framework.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator

from corral import private_files
from corral.context import ServiceContext
from corral.providers import catalog
from corral.providers.registry import ModelRegistry
from corral.pubsub.base import SECRETS_CHANNEL, Broker
from corral.sandbox.capabilities import Capabilities, probe
from corral.security.sealed import SECRET_FILE, SecretBox, load_or_create_secret
from corral.services import auth
from corral.settings import Settings
from corral.storage import migrate
from corral.storage.database import Database
from corral.storage.vault import Vault
from corral.worker.runner import Worker

__all__ = ["build_context", "make_broker", "prepare_data_dir", "running", "sandbox_of"]


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
    database = Database(
        settings.effective_database_url,
        schema=settings.database_schema,
        pool_size=settings.database_pool_size,
    )
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
        secrets=SecretBox(
            secret, [old.get_secret_value() for old in settings.previous_secret_keys]
        ),
        sandbox=sandbox_of(settings),
        vault=Vault(settings.key_cache_s),
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
        with ctx.broker.subscribe(SECRETS_CHANNEL, on_message=ctx.vault.forget):
            if with_worker:
                worker = Worker(ctx)
                await worker.start()
            yield worker
    finally:
        if worker is not None:
            await worker.stop(ctx.settings.shutdown_grace_s)
        await ctx.broker.close()
        await ctx.models.aclose()
        await ctx.database.close()
