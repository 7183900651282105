"""`corral keys …` (create, list, revoke and rotate API keys) and `corral audit` (who changed them).

A secret is printed once, alone on stdout, so `KEY=$(corral keys create …)` captures it; what it
belongs to goes to stderr. The server never shows it again.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Annotated

import typer
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.types.keys import ApiKey, ApiKeyWithSecret

keys_app = typer.Typer(help="Create, list, revoke and rotate API keys.", no_args_is_help=True)

KeyId = Annotated[str, typer.Argument(help="The key's id (key_…).")]
AUDIT_PAGE_SIZE = 100


@keys_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name that says who or what uses the key.")],
    scopes: Annotated[
        list[str],
        typer.Option("--scope", help="A scope to grant, e.g. runs:write (repeat for several)."),
    ],
    expires_at: Annotated[
        str | None,
        typer.Option(
            "--expires-at", help="When it stops working (ISO 8601; local time if no zone)."
        ),
    ] = None,
    agents: Annotated[
        list[str] | None,
        typer.Option("--agent", help="Only let it run this agent, by name or id (repeatable)."),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Create a key; prints its secret, which is shown this once only."""
    key = client(ctx).keys.create(
        name=name,
        scopes=scopes,
        expires_at=options.moment(expires_at, "--expires-at"),
        agents=agents or None,
    )
    _print_secret(key, f"key {key.name} ({key.id}) created with {', '.join(key.scopes)}", as_json)


@keys_app.command("list")
def list_keys(ctx: typer.Context, as_json: options.JsonFlag = False) -> None:
    """List every key of the workspace, revoked ones included, oldest first."""
    found = list(client(ctx).keys.list())
    if as_json:
        output.print_json(found)
        return
    now = datetime.now(UTC)
    output.table(
        ["ID", "NAME", "PREFIX", "SCOPES", "AGENTS", "STATUS", "CREATED", "EXPIRES", "LAST USED"],
        (
            [
                k.id,
                k.name,
                k.prefix,
                ",".join(k.scopes),
                ",".join(k.agents) if k.agents is not None else "any",
                _status(k, now),
                output.when(k.created_at),
                output.when(k.expires_at),
                output.when(k.last_used_at),
            ]
            for k in found
        ),
        empty="no keys",
    )


@keys_app.command("revoke")
def revoke(ctx: typer.Context, key_id: KeyId, as_json: options.JsonFlag = False) -> None:
    """Revoke a key: it stops working at once, on every server."""
    key = client(ctx).keys.revoke(key_id)
    if as_json:
        output.print_json(key)
    else:
        output.line(f"revoked key {key.name} ({key.id})")


@keys_app.command("rotate")
def rotate(
    ctx: typer.Context,
    key_id: KeyId,
    grace: Annotated[
        float,
        typer.Option("--grace", min=0, help="Seconds the old secret keeps working (default 0)."),
    ] = 0,
    as_json: options.JsonFlag = False,
) -> None:
    """Give a key a new secret; prints it, which is shown this once only."""
    key = client(ctx).keys.rotate(key_id, grace_s=grace)
    old = (
        f"the old one works {output.format_duration(grace)} more"
        if grace
        else "the old one no longer works"
    )
    _print_secret(key, f"key {key.name} ({key.id}) has a new secret; {old}", as_json)


def audit(
    ctx: typer.Context,
    action: Annotated[
        str | None, typer.Option("--action", help="Only this action, e.g. key.revoked.")
    ] = None,
    limit: options.Limit = 50,
    as_json: options.JsonFlag = False,
) -> None:
    """List the audit log: who changed keys, and from where, newest first."""
    page = client(ctx).audit.list(action=action, limit=min(limit, AUDIT_PAGE_SIZE))
    found = list(itertools.islice(page, limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["TIME", "ACTION", "ACTOR", "TARGET", "ADDRESS"],
        (
            [
                output.when(e.created_at),
                e.action,
                e.actor or "(server)",
                e.target_id or "",
                e.address or "",
            ]
            for e in found
        ),
        empty="no audit entries",
    )


def _print_secret(key: ApiKeyWithSecret, note: str, as_json: bool) -> None:
    if as_json:
        output.print_json(key)
        return
    output.line(key.secret)
    output.note(note)
    output.note(Text("Store the secret now: it is not shown again.", style="bold yellow"))


def _status(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def register(app: typer.Typer) -> None:
    """Add `corral keys` and `corral audit` to the root command."""
    app.add_typer(keys_app, name="keys", rich_help_panel=options.HELP_PANEL)
    app.command("audit", rich_help_panel=options.HELP_PANEL)(audit)
