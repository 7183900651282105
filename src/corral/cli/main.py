"""`corral`: the command line, for running a server and for using one.

The root command takes the client commands' global options, and `main()` is the one place where
SDK errors become an error line and exit status 1 instead of a traceback. The executable starts
in `corral.cli.entry`, which answers `--version` without importing this module.
"""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from corral.cli import (
    agents,
    approvals,
    errors,
    files,
    keys,
    routines,
    runs,
    secrets,
    server,
    service,
    sessions,
    webhooks,
)
from corral.cli.context import ClientOptions
from corral.cli.entry import version_line
from corral.client import CorralError

app = typer.Typer(
    name="corral",
    help="A self-hosted runtime for LLM agents.",
    no_args_is_help=True,
)


def _print_version(asked: bool) -> None:
    if asked:
        print(version_line())
        raise typer.Exit()


@app.callback()
def root(
    ctx: typer.Context,
    base_url: Annotated[
        str | None,
        typer.Option(
            "--base-url",
            help="Server of the client commands (env: CORRAL_BASE_URL; default: "
            "http://127.0.0.1:7070).",
        ),
    ] = None,
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="API key of the client commands (env: CORRAL_API_KEY)."),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version",
            "-V",
            is_eager=True,
            expose_value=False,
            callback=_print_version,
            help="Print the version and exit.",
        ),
    ] = False,
) -> None:
    """A self-hosted runtime for LLM agents."""
    found = ctx.ensure_object(ClientOptions)
    found.base_url = base_url
    found.api_key = api_key


server.register(app)
runs.register(app)
sessions.register(app)
approvals.register(app)
files.register(app)
agents.register(app)
keys.register(app)
secrets.register(app)
routines.register(app)
webhooks.register(app)
service.register(app)


def main() -> None:
    """Entry point of the `corral` command."""
    client_options = ClientOptions()
    try:
        app(obj=client_options)
    except CorralError as error:
        sys.exit(errors.report(error, client_options.shown_base_url))
    finally:
        client_options.close()
