"""`corral workspaces`: the server's workspaces, managed on the database directly.

For the server's own host (or anyone holding its database URL), like `corral migrate`; over HTTP
the operator key does the same through `/v1/workspaces`. Changes are audited with no actor key.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from rich.table import Table

from corral.cli.launch import DatabaseUrl, DataDir, console, load_settings

__all__ = ["workspaces_app"]

T = TypeVar("T")

workspaces_app = typer.Typer(help="Manage workspaces (operates on the database directly).")

Name = Annotated[str, typer.Argument(help="The workspace's name or id")]


def _run(database_url: str | None, data_dir: object, use: Callable[..., Awaitable[T]]) -> T:
    """Run `use(ctx, actor)` against the database, printing a service error as one line."""
    from corral.errors import ServiceError
    from corral.process import build_context
    from corral.services.audit import Actor

    settings = load_settings(database_url=database_url, data_dir=data_dir)

    async def main() -> T:
        ctx = build_context(settings)
        await ctx.database.connect()
        # Through the broker, running servers forget the keys of a workspace at once (on SQLite,
        # whose broker is in-process, after their key cache expires).
        await ctx.broker.start()
        try:
            return await use(ctx, Actor(None))
        finally:
            await ctx.broker.close()
            await ctx.database.close()

    try:
        return asyncio.run(main())
    except ServiceError as error:
        console.print(f"error: {error.message}")
        raise typer.Exit(1) from None


@workspaces_app.command("create")
def create_workspace(
    name: Annotated[str, typer.Argument(help="Unique workspace name")],
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Create a workspace and print its admin API key (shown once)."""
    from pydantic import ValidationError

    from corral.services import workspaces
    from corral.types.workspaces import WorkspaceCreateParams

    try:
        params = WorkspaceCreateParams(name=name)
    except ValidationError:
        console.print(f"error: {name!r} is not a workspace name: use letters, digits, . _ and -")
        raise typer.Exit(1) from None
    created = _run(database_url, data_dir, lambda ctx, actor: workspaces.create(ctx, actor, params))
    console.print(f"workspace {created.name} ({created.id}) created; its admin key:")
    typer.echo(created.admin_key.secret)


@workspaces_app.command("list")
def list_workspaces(database_url: DatabaseUrl = None, data_dir: DataDir = None) -> None:
    """List every workspace of the server."""
    from corral.services import workspaces

    found = _run(database_url, data_dir, lambda ctx, _actor: workspaces.list_all(ctx))
    table = Table("name", "id", "status", "created")
    for workspace in found:
        table.add_row(
            workspace.name, workspace.id, workspace.status, workspace.created_at.isoformat()
        )
    typer.echo(_render(table))


def _render(table: Table) -> str:
    from rich.console import Console

    out = Console(width=160, record=True)
    with out.capture() as captured:
        out.print(table)
    return captured.get().rstrip()


@workspaces_app.command("suspend")
def suspend_workspace(
    name: Name, database_url: DatabaseUrl = None, data_dir: DataDir = None
) -> None:
    """Stop every key of a workspace (its runs go on) until it is resumed."""
    _set_suspended(name, True, database_url, data_dir)


@workspaces_app.command("resume")
def resume_workspace(
    name: Name, database_url: DatabaseUrl = None, data_dir: DataDir = None
) -> None:
    """Let a suspended workspace's keys work again."""
    _set_suspended(name, False, database_url, data_dir)


def _set_suspended(name: str, suspended: bool, database_url: str | None, data_dir: object) -> None:
    from corral.services import workspaces

    done = _run(
        database_url,
        data_dir,
        lambda ctx, actor: workspaces.set_suspended(ctx, actor, name, suspended=suspended),
    )
    console.print(f"workspace {done.name} is {done.status}")


@workspaces_app.command("delete")
def delete_workspace(
    name: Name,
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation")] = False,
    database_url: DatabaseUrl = None,
    data_dir: DataDir = None,
) -> None:
    """Cancel a workspace's active runs, then delete it and everything in it."""
    from corral.services import workspaces

    if not yes and not typer.confirm(f"delete the workspace {name} and everything in it?"):
        raise typer.Exit(1)
    _run(database_url, data_dir, lambda ctx, actor: workspaces.delete(ctx, actor, name))
    console.print(f"workspace {name} deleted")
