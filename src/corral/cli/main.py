"""`corral`: the command line, for running a server and for using one."""

from __future__ import annotations

import typer

from corral.cli import server

app = typer.Typer(
    name="corral",
    help="A self-hosted runtime for LLM agents.",
    no_args_is_help=True,
    add_completion=False,
)
server.register(app)


def main() -> None:
    """Entry point of the `corral` command."""
    app()
