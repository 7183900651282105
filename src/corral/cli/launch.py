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
from rich.markup import escape

if TYPE_CHECKING:
    from corral.sandbox.capabilities import Capabilities
    from corral.settings import Settings

__all__ = [
    "ConfigFile",
    "DataDir",
    "DatabaseUrl",
    "announce_sandbox",
    "configuration_errors",
    "console",
    "describe",
    "freeze_startup_objects",
    "load_settings",
    "sandbox_line",
]

console = Console(stderr=True, soft_wrap=True)


def require_server() -> None:
    """The server's modules are installed, or one line saying how to install them."""
    missing = [name for name in _SERVER_MODULES if not _installed(name)]
    if missing:
        console.print(
            f"error: the server is not installed (no {missing[0]} module): "
            "pip install -e '.[server]' in a checkout, or 'corral[server]' from a wheel",
            markup=False,
        )
        raise typer.Exit(2)


def _installed(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


_SERVER_MODULES = ("fastapi", "sqlalchemy", "uvicorn", "pydantic_settings", "orjson")
"""Modules of the `server` extra the server commands cannot start without."""


DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Data directory (env: CORRAL_DATA_DIR)", show_default="corral-data"
    ),
]
DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="Database URL (env: CORRAL_DATABASE_URL)",
        show_default="SQLite in the data directory",
    ),
]
ConfigFile = Annotated[
    Path | None,
    typer.Option(
        "--config",
        help="TOML file of settings, overridden by CORRAL_* variables and flags "
        "(env: CORRAL_CONFIG; default: ./corral.toml when it exists)",
        show_default=False,
    ),
]


def load_settings(config: Path | None = None, **overrides: Any) -> Settings:
    """Settings from flags, the environment and the configuration file; exits on bad values."""
    require_server()
    from pydantic import ValidationError

    from corral.settings import ConfigFileError, load

    try:
        return load(config, **{k: v for k, v in overrides.items() if v is not None})
    except ConfigFileError as error:
        console.print(f"error: {error}", markup=False)
        raise typer.Exit(2) from None
    except ValidationError as error:
        for problem in error.errors():
            name = "CORRAL_" + "_".join(str(part) for part in problem["loc"]).upper()
            console.print(f"error: invalid setting {name}: {problem['msg']}", markup=False)
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


def sandbox_line(sandbox: Capabilities) -> str:
    """How agents' tools are isolated here, as rich markup; loudly when they are not."""
    detail, fix = escape(sandbox.detail), escape(sandbox.fix or "")
    if sandbox.tier == "bwrap":
        return f"{detail}; [yellow]not enforced here[/]: {fix}" if sandbox.fix else detail
    if sandbox.tier == "unavailable":
        return (
            f"[bold red]sandbox unavailable[/]: {detail}. Runs that need builtin tools or local "
            f"MCP servers fail with sandbox_unavailable. Fix: {fix}"
        )
    return f"[bold red]{detail}[/]. Fix: {fix}"


def announce_sandbox(sandbox: Capabilities) -> None:
    """Say how agents' tools are isolated here (a worker's start)."""
    line = sandbox_line(sandbox)
    console.print(f"sandbox: {line}" if sandbox.tier == "bwrap" else line)


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
    from corral.cli.preflight import without_credentials

    return without_credentials(url)
