"""Options several client commands share: `--json`, `--metadata key=value`, `--limit`, JSON."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

HELP_PANEL = "Use a server"
"""The `corral --help` section that lists the client commands."""

JsonFlag = Annotated[
    bool,
    typer.Option(
        "--json",
        help="Print JSON for scripts: one document, an array for lists, JSON lines for events.",
    ),
]
MetadataPairs = Annotated[
    list[str] | None,
    typer.Option("--metadata", "-M", help="A metadata tag KEY=VALUE (repeat for several)."),
]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")]


def metadata(pairs: list[str] | None, option: str = "--metadata") -> dict[str, str] | None:
    """`["team=infra", "env=prod"]` as a dict; a usage error names a pair without `=`."""
    if not pairs:
        return None
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, equals, value = pair.partition("=")
        if not equals or not key:
            raise typer.BadParameter(f"expected KEY=VALUE, got {pair!r}", param_hint=option)
        parsed[key] = value
    return parsed


def json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """A JSON object given on the command line; a usage error says what is wrong with it."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not valid JSON: {error}", param_hint=option) from None
    if not isinstance(value, dict):
        raise typer.BadParameter(
            f"expected a JSON object, got {type(value).__name__}", param_hint=option
        )
    return value
