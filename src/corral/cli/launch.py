"""What the server commands share: settings, and how a starting process reports itself.

Settings come from flags and the environment; a bad configuration is one line and exit status 2.

Imports of the server's own modules stay inside the functions, so that the client commands work
with the SDK alone.
"""

from __future__ import annotations

import contextlib
import gc
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console

if TYPE_CHECKING:
    from corral.sandbox.capabilities import Capabilities
    from corral.settings import Settings

__all__ = [
    "DataDir",
    "DatabaseUrl",
    "announce_sandbox",
    "configuration_errors",
    "console",
    "describe",
    "freeze_startup_objects",
    "load_settings",
]

console = Console(stderr=True)


def require_server() -> None:
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
    require_server()
    from pydantic import ValidationError

    from corral.settings import Settings

    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    except ValidationError as error:
        for problem in error.errors():
            name = "CORRAL_" + "_".join(str(part) for part in problem["loc"]).upper()
            console.print(f"error: invalid setting {name}: {problem['msg']}")
        raise typer.Exit(2) from None


@contextlib.contextmanager
def configuration_errors() -> Iterator[None]:
    """A bad catalog, secret key or default model: one line and exit status 2."""
    from corral.errors import ServiceError

    try:
        yield
    except (ValueError, ServiceError) as error:
        message = error.message if isinstance(error, ServiceError) else str(error)
        console.print(f"error: configuration: {message}")
        raise typer.Exit(2) from None


def announce_sandbox(sandbox: Capabilities) -> None:
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


def freeze_startup_objects() -> None:
    """Exempt what startup allocated from garbage collection.

    It lives as long as the process, so full collections need not walk it again and again.
    """
    gc.collect()
    gc.freeze()


def describe(settings: Settings) -> str:
    """The database, as a startup line names it (no password)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        return url.removeprefix("sqlite:///")
    return url.split("@")[-1]
