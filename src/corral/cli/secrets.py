"""`corral secrets …`: the workspace's vault, from the command line.

A value is read from stdin or a file, never from an argument: arguments land in shell history
and in `ps` for every user of the machine to see. Nothing the commands print holds a value.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import CommandError, confirm_delete
from corral.client import ConflictError

secrets_app = typer.Typer(
    help="Store secrets for agents; their values can be written, never read.",
    no_args_is_help=True,
)

SecretName = Annotated[str, typer.Argument(help="The secret's name.")]
NO_VALUE = "no_secret_value"
DESCRIPTION_CHARS = 60


def _read_value(value_file: Path | None) -> str:
    """The value from the file or piped stdin, without the one line ending `echo` adds."""
    if value_file is not None:
        raw, source = value_file.read_bytes(), str(value_file)
    elif sys.stdin.isatty():
        raise CommandError(
            NO_VALUE,
            "the value is read from stdin, which is a terminal",
            "pipe it in (`corral secrets set NAME < value.txt`) or pass --value-file PATH",
        )
    else:
        raw, source = sys.stdin.buffer.read(), "stdin"
    try:
        value = raw.decode()
    except UnicodeDecodeError:
        raise CommandError(NO_VALUE, f"{source} is not UTF-8 text") from None
    value = value.removesuffix("\n").removesuffix("\r")
    if not value:
        raise CommandError(NO_VALUE, f"{source} holds no value")
    return value


@secrets_app.command("set")
def set_secret(
    ctx: typer.Context,
    name: SecretName,
    value_file: Annotated[
        Path | None,
        typer.Option(
            "--value-file",
            help="Read the value from this file (default: stdin, which must be piped).",
            exists=True,
            dir_okay=False,
            readable=True,
        ),
    ] = None,
    description: Annotated[
        str | None,
        typer.Option("--description", help="What the secret is for (kept when left out)."),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Create a secret, or give an existing one a new version; the value is read from stdin."""
    value = _read_value(value_file)
    given = {} if description is None else {"description": description}
    secrets = client(ctx).secrets
    try:
        secret, result = secrets.create(name=name, value=value, **given), "created"
    except ConflictError:
        secret, result = secrets.update(name, value=value, **given), "updated"
    if as_json:
        output.print_json({"result": result, "secret": secret})
    elif result == "created":
        output.line(f"secret {secret.name} created (version {secret.version})")
    else:
        output.line(f"secret {secret.name} updated to version {secret.version}")


@secrets_app.command("list")
def list_secrets(ctx: typer.Context, as_json: options.JsonFlag = False) -> None:
    """List the workspace's secrets by name (never their values)."""
    found = list(client(ctx).secrets.list())
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["NAME", "VERSION", "CREATED", "UPDATED", "DESCRIPTION"],
        (
            [
                s.name,
                str(s.version),
                output.when(s.created_at),
                output.when(s.updated_at),
                output.truncate(s.description or "", DESCRIPTION_CHARS),
            ]
            for s in found
        ),
        empty="no secrets",
    )


@secrets_app.command("show")
def show(ctx: typer.Context, name: SecretName, as_json: options.JsonFlag = False) -> None:
    """Show a secret's details and every version, newest first (never a value)."""
    found = client(ctx).secrets.retrieve(name)
    if as_json:
        output.print_json(found)
        return
    output.details(
        [
            ("name", found.name),
            ("id", found.id),
            ("description", found.description),
            ("version", str(found.version)),
            ("created", output.when(found.created_at)),
            ("updated", output.when(found.updated_at)),
        ]
    )
    output.line("")
    output.table(
        ["VERSION", "CREATED", "CREATED BY"],
        (
            [str(v.version), output.when(v.created_at), v.created_by or "(server)"]
            for v in found.versions or []
        ),
        empty="no versions",
    )


@secrets_app.command("delete")
def delete(
    ctx: typer.Context,
    name: SecretName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Delete a secret and all its versions (asks first, unless --yes)."""
    if not yes:
        confirm_delete(f"delete the secret {name} and all its versions?")
    client(ctx).secrets.delete(name)
    if as_json:
        output.print_json({"name": name, "deleted": True})
    else:
        output.line(f"deleted secret {name}")


def register(app: typer.Typer) -> None:
    """Add `corral secrets` to the root command."""
    app.add_typer(secrets_app, name="secrets", rich_help_panel=options.HELP_PANEL)
