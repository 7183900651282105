"""Server commands: `corral serve`, `corral worker`, `corral migrate`, `corral workspace`.

They need the `server` extra; its modules are imported only when one of these commands runs, so
the client commands work with the SDK alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib.util
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from corral.sandbox.capabilities import Capabilities
    from corral.settings import Settings

console = Console(stderr=True)
workspace_app = typer.Typer(help="Manage workspaces (operates on the database directly).")


def _require_server() -> None:
    if any(importlib.util.find_spec(name) is None for name in ("fastapi", "sqlalchemy")):
        console.print("error: the server is not installed: pip install 'corral[server]'")
        raise typer.Exit(2)


DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="Data directory (env: CORRAL_DATA_DIR)")
]
DatabaseUrl = Annotated[
    str | None, typer.Option("--database-url", help="Database URL (env: CORRAL_DATABASE_URL)")
]


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with command-line flags winning; exits on bad values."""
    _require_server()
    from pydantic import ValidationError

    from corral.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        for problem in error.errors():
            name = "CORRAL_" + "_".join(str(part) for part in problem["loc"]).upper()
            console.print(f"error: invalid setting {name}: {problem['msg']}")
        raise typer.Exit(2) from None


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
    with _configuration_errors():
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
        f"(database: {_describe(settings)})"
    )
    if settings.embedded_worker:
        _announce_sandbox(app.state.ctx.sandbox)
    _freeze_startup_objects()
    uvicorn.Server(config).run()


def run_worker(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Runs executed at once (env: CORRAL_WORKER_CONCURRENCY)")
    ] = None,
) -> None:
    """Run a worker that executes queued runs until stopped (SIGTERM hands runs back)."""
    from corral.observability.logging import configure

    settings = load_settings(
        database_url=database_url, data_dir=data_dir, worker_concurrency=concurrency
    )
    configure(settings.log_level)
    _freeze_startup_objects()
    asyncio.run(_worker_main(settings))


async def _worker_main(settings: Settings) -> None:
    from corral.api.app import build_context, running

    with _configuration_errors():
        ctx = build_context(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(ctx, with_worker=True) as worker:
        assert worker is not None
        console.print(f"worker {worker.id} running (database: {_describe(settings)})")
        _announce_sandbox(ctx.sandbox)
        await stop.wait()


def migrate(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """Bring the database schema up to date."""
    from corral.api.app import prepare_data_dir
    from corral.storage import migrate as migrations
    from corral.storage.database import Database

    settings = load_settings(database_url=database_url, data_dir=data_dir)
    prepare_data_dir(settings)

    async def main() -> str | None:
        database = Database(settings.effective_database_url, schema=settings.database_schema)
        await database.connect()
        try:
            await migrations.upgrade(database)
            return await migrations.current_revision(database)
        finally:
            await database.close()

    revision = asyncio.run(main())
    console.print(f"database at revision {revision} ({_describe(settings)})")


@workspace_app.command("create")
def create_workspace(
    name: Annotated[str, typer.Argument(help="Unique workspace name")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Create a workspace and print its admin API key (shown once)."""
    from corral.api.app import build_context
    from corral.services import auth

    settings = load_settings(database_url=database_url, data_dir=data_dir)

    async def main() -> tuple[str, str]:
        ctx = build_context(settings)
        await ctx.database.connect()
        try:
            return await auth.create_workspace(ctx, name)
        finally:
            await ctx.database.close()

    from corral.errors import CorralError

    try:
        workspace_id, key = asyncio.run(main())
    except CorralError as error:
        console.print(f"error: {error.message}")
        raise typer.Exit(1) from None
    console.print(f"workspace {name} ({workspace_id}) created; its admin key:")
    typer.echo(key)


@contextlib.contextmanager
def _configuration_errors() -> Iterator[None]:
    """A bad catalog, secret key or default model: one line and exit status 2."""
    from corral.errors import CorralError

    try:
        yield
    except (ValueError, CorralError) as error:
        message = error.message if isinstance(error, CorralError) else str(error)
        console.print(f"error: configuration: {message}")
        raise typer.Exit(2) from None


def _announce_sandbox(sandbox: Capabilities) -> None:
    """Say how agents' tools are isolated here; loudly when they are not."""
    if sandbox.tier == "bwrap":
        console.print(f"sandbox: {sandbox.detail}")
        if sandbox.fix:
            console.print(f"sandbox: [yellow]not enforced here[/]: {sandbox.fix}")
    elif sandbox.tier == "unavailable":
        console.print(
            f"[bold red]sandbox unavailable[/]: {sandbox.detail}. Runs that need builtin tools "
            f"or local MCP servers fail with sandbox_unavailable. Fix: {sandbox.fix}"
        )
    else:
        console.print(f"[bold red]{sandbox.detail}[/]. Fix: {sandbox.fix}")


def secret_key() -> None:
    """Print a new secret key for CORRAL_SECRET_KEY (share it with every node)."""
    from corral.security.sealed import new_secret

    typer.echo(new_secret())


def _freeze_startup_objects() -> None:
    """Exempt what startup allocated from garbage collection.

    It lives as long as the process, so full collections need not walk it again and again.
    """
    gc.collect()
    gc.freeze()


def _describe(settings: Settings) -> str:
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        return url.removeprefix("sqlite:///")
    return url.split("@")[-1]


def register(app: typer.Typer) -> None:
    """Add the server commands to the root command."""
    app.command()(serve)
    app.command("worker")(run_worker)
    app.command()(migrate)
    app.command("secret-key")(secret_key)
    app.add_typer(workspace_app, name="workspace")
