"""Server commands: `corral serve`, `corral migrate`, `corral workspaces` (and `corral worker`).

They need the `server` extra; its modules are imported only when one of these commands runs, so
the client commands work with the SDK alone.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from corral.cli.launch import ConfigFile, DatabaseUrl, DataDir, console, describe, load_settings
from corral.cli.worker import run_worker
from corral.cli.workspaces import workspaces_app

__all__ = ["register"]


def serve(
    host: Annotated[
        str | None, typer.Option(help="Listen address (env: CORRAL_HOST)", show_default="127.0.0.1")
    ] = None,
    port: Annotated[
        int | None, typer.Option(help="Listen port (env: CORRAL_PORT)", show_default="7070")
    ] = None,
    data_dir: DataDir = None,
    database_url: DatabaseUrl = None,
    worker: Annotated[
        bool | None,
        typer.Option(
            "--worker/--no-worker",
            help="Run a worker in this process too (env: CORRAL_EMBEDDED_WORKER)",
            show_default="--worker",
        ),
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Start the API server (with an embedded worker by default).

    Nothing starts before the data directory, the database and the port are checked; each
    failure is one line with its own exit status (see `corral serve` in docs/cli.md).
    """
    settings = load_settings(
        config,
        host=host,
        port=port,
        data_dir=data_dir,
        database_url=database_url,
        embedded_worker=worker,
    )
    from corral.cli.preflight import failures_exit, listen, prepare

    with failures_exit():  # before the server's modules load: a failure is told at once
        held = prepare(settings, worker=settings.embedded_worker)
        listener = listen(settings.host, settings.port)
    try:
        from corral.cli.serving import serve_api

        serve_api(settings, listener)
    finally:
        listener.close()
        if held is not None:
            held.close()


def migrate(
    database_url: DatabaseUrl = None, data_dir: DataDir = None, config: ConfigFile = None
) -> None:
    """Bring the database schema up to date."""
    from corral.process import prepare_data_dir
    from corral.storage import migrate as migrations
    from corral.storage.database import Database

    settings = load_settings(config, database_url=database_url, data_dir=data_dir)
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
