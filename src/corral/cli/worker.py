"""`corral worker`: a process that executes queued runs, with no HTTP API (and no web framework)."""

from __future__ import annotations

import asyncio
import signal
from typing import TYPE_CHECKING, Annotated

import typer

from corral.cli.launch import (
    ConfigFile,
    DatabaseUrl,
    DataDir,
    announce_sandbox,
    configuration_errors,
    console,
    describe,
    freeze_startup_objects,
    load_settings,
)

if TYPE_CHECKING:
    from corral.settings import Settings

__all__ = ["run_worker"]


def run_worker(
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
    concurrency: Annotated[
        int | None, typer.Option(help="Runs executed at once (env: CORRAL_WORKER_CONCURRENCY)")
    ] = None,
    config: ConfigFile = None,
) -> None:
    """Run a worker that executes queued runs until stopped (SIGTERM hands runs back)."""
    settings = load_settings(
        config, database_url=database_url, data_dir=data_dir, worker_concurrency=concurrency
    )
    from corral.cli.preflight import failures_exit, prepare
    from corral.observability.logging import configure

    with failures_exit():
        held = prepare(settings, worker=True)
    configure(settings.log_level, settings.log_format)
    freeze_startup_objects()
    try:
        asyncio.run(_worker_main(settings))
    finally:
        if held is not None:
            held.close()


async def _worker_main(settings: Settings) -> None:
    from corral.compat.webhook_formats import register
    from corral.process import build_context, running

    register()  # the facades' webhook formats: the core cannot import them itself
    with configuration_errors():
        ctx = build_context(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with running(ctx, with_worker=True) as worker:
        assert worker is not None
        console.print(f"worker {worker.id} running (database: {describe(settings)})")
        announce_sandbox(ctx.sandbox)
        await stop.wait()
