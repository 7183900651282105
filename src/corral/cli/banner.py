"""What a started server says about itself: where it listens and what to do next.

On a terminal it is a few aligned lines a person reads, ending with the line to copy that points
the client commands at it; for a log collector it is one `server.ready` record.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape

from corral.cli.launch import sandbox_line
from corral.cli.preflight import without_credentials

if TYPE_CHECKING:
    from corral.sandbox.capabilities import Capabilities
    from corral.settings import Settings

__all__ = ["Ready", "announce"]

logger = logging.getLogger("corral.server")


@dataclass(frozen=True)
class Ready:
    """The facts a started server reports."""

    version: str
    url: str
    data_dir: Path
    database: str
    sandbox: Capabilities | None
    """None when this process runs no worker (its sandbox is the workers')."""
    workers: str
    admin_key_file: Path | None
    """The file holding the first admin key, when this server wrote one."""


def ready_facts(settings: Settings, sandbox: Capabilities | None, version: str) -> Ready:
    """The facts of a server started with `settings`."""
    from corral.services.auth import ADMIN_KEY_FILE

    key_file = settings.data_dir / ADMIN_KEY_FILE
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        database = f"SQLite, {url.removeprefix('sqlite:///')}"
    else:
        database = f"PostgreSQL, {without_credentials(url)}"
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::") else settings.host
    host = f"[{host}]" if ":" in host else host
    return Ready(
        version=version,
        url=f"http://{host}:{settings.port}",
        data_dir=settings.data_dir.resolve(),
        database=database,
        sandbox=sandbox,
        workers=(
            f"embedded, up to {settings.worker_concurrency} runs at once"
            if settings.embedded_worker
            else "none in this process: start `corral worker` against the same database"
        ),
        admin_key_file=key_file.resolve() if key_file.is_file() else None,
    )


def announce(ready: Ready, console: Console, *, text: bool) -> None:
    """The banner on a terminal, or the `server.ready` record for a log collector."""
    if not text:
        logger.info(
            "server ready",
            extra={
                "action": "server.ready",
                "url": ready.url,
                "data_dir": str(ready.data_dir),
                "database": ready.database,
                "sandbox": ready.sandbox.tier if ready.sandbox else None,
                "admin_key_file": str(ready.admin_key_file) if ready.admin_key_file else None,
            },
        )
        if ready.sandbox is not None and (ready.sandbox.tier != "bwrap" or ready.sandbox.fix):
            logger.warning(
                "agents' tools are not fully isolated here",
                extra={
                    "action": "sandbox.not_enforced",
                    "detail": ready.sandbox.detail,
                    "fix": ready.sandbox.fix,
                },
            )
        return
    rows = [
        ("console", f"{ready.url}/"),
        ("API docs", f"{ready.url}/docs"),
        ("data", str(ready.data_dir)),
        ("database", ready.database),
        ("workers", ready.workers),
    ]
    console.print(f"[bold]Corral {ready.version}[/] is ready at [bold]{ready.url}[/]")
    for name, value in rows:
        console.print(f"  {name:<9} {escape(value)}")
    if ready.sandbox is not None:
        console.print(f"  {'sandbox':<9} {sandbox_line(ready.sandbox)}")
    if ready.admin_key_file is not None:
        console.print(f"  {'admin key':<9} {escape(str(ready.admin_key_file))}")
        console.print("Use it from this shell with:")
        console.print(
            f"  export CORRAL_BASE_URL={ready.url} "
            f"CORRAL_API_KEY=$(cat {escape(str(ready.admin_key_file))})",
            soft_wrap=True,
        )
