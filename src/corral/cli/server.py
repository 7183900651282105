"""Server commands: `corral serve`, `corral migrate`, `corral workspaces` (and `corral worker`).

They need the `server` extra; its modules are imported only when one of these commands runs, so
the client commands work with the SDK alone.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from corral.cli.launch import (
    DatabaseUrl,
    DataDir,
    announce_sandbox,
    configuration_errors,
    console,
    describe,
    freeze_startup_objects,
    load_settings,
)
from corral.cli.worker import run_worker
from corral.cli.workspaces import workspaces_app

__all__ = ["register"]


def serve(
    host: Annotated[str | None, typer.Option(help="Listen address (env: CORRAL_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="Listen port (env: CORRAL_PORT)")] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    worker: Annotated[
        bool | None,
        typer.Option("--worker/--no-worker", help="Run a worker in this process too"),
    ] = None,
) -> None:
    """Start the API server (with an embedded worker by default)."""
    import uvicorn

    from corral.api.app import create_app
    from corral.observability.logging import configure

    settings = load_settings(
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        embedded_worker=worker,
    )
    configure(settings.log_level)
    with configuration_errors():
        app = create_app(settings)
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        loop="uvloop",
        http="httptools",
        timeout_graceful_shutdown=int(settings.shutdown_grace_s) + 1,
    )
    console.print(
        f"Corral listening on http://{settings.host}:{settings.port} "
        f"(database: {describe(settings)})"
    )
    if settings.embedded_worker:
        announce_sandbox(app.state.ctx.sandbox)
    freeze_startup_objects()
    uvicorn.Server(config).run()


def migrate(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Bring the database schema up to date."""
    from corral.process import prepare_data_dir
    from corral.storage import migrate as migrations
    from corral.storage.database import Database

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    prepare_data_dir(settings)

    async def main() -> str | None:
        database = Database(
            settings.effective_database_url,
            schema=settings.database_schema,
            pool_size=settings.database_pool_size,
        )
        await database.connect()
        try:
            await migrations.upgrade(database)
            return await migrations.current_revision(database)
        finally:
            await database.close()

    revision = asyncio.run(main())
    console.print(f"database at revision {revision} ({describe(settings)})")


def secret_key() -> None:
    """Print a new secret key for CORRAL_SECRET_KEY (share it with every node)."""
    from corral.security.sealed import new_secret

    typer.echo(new_secret())


def reseal(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Seal every stored secret and provider key anew under CORRAL_SECRET_KEY (after a rotation)."""
    from corral.process import build_context
    from corral.security.sealed import SealError
    from corral.services import secrets

    settings = load_settings(database_url=database_url, data_dir=data_dir)

    async def main() -> int:
        ctx = build_context(settings)
        await ctx.database.connect()
        try:
            return await secrets.reseal_all(ctx)
        finally:
            await ctx.database.close()

    try:
        count = asyncio.run(main())
    except SealError:
        console.print(
            "error: a stored value was sealed with a key this server does not have; list it in "
            "CORRAL_PREVIOUS_SECRET_KEYS (nothing was changed)"
        )
        raise typer.Exit(1) from None
    console.print(f"sealed {count} values anew under the current secret key")


def register(app: typer.Typer) -> None:
    """Add the server commands to the root command."""
    app.command()(serve)
    app.command("worker")(run_worker)
    app.command()(migrate)
    app.command("secret-key")(secret_key)
    app.command()(reseal)
    app.add_typer(workspaces_app, name="workspaces")
    app.add_typer(workspaces_app, name="workspace", hidden=True)  # its former name
