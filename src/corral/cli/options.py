"""Options several client commands share: `--json`, `--metadata`, `--limit`, JSON, times."""

from __future__ import annotations

import json
import re
from datetime import datetime
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
    typer.Option(
        "--metadata",
        "-M",
        metavar="KEY:VALUE",
        help="A metadata tag key:value, as the API writes it (KEY=VALUE works too; repeat for "
        "several).",
    ),
]
Limit = Annotated[int, typer.Option("--limit", "-n", min=1, help="Show at most this many.")]
Since = Annotated[
    str | None,
    typer.Option(
        "--since",
        help="Only those created at or after this ISO 8601 date or time (local if no zone).",
    ),
]
Until = Annotated[
    str | None,
    typer.Option(
        "--until", help="Only those created before this ISO 8601 date or time (local if no zone)."
    ),
]


_METADATA_SEPARATOR = re.compile(r"[:=]")
"""Where a metadata key ends: `team:infra` (the API's filter syntax) or `team=infra`."""


def metadata(pairs: list[str] | None, option: str = "--metadata") -> dict[str, str] | None:
    """`["team:infra", "env=prod"]` as a dict; a usage error names a pair with no separator.

    A key is split off at the first `:` or `=`: keys may hold neither, values may hold both.
    """
    if not pairs:
        return None
    parsed: dict[str, str] = {}
    for pair in pairs:
        separated = _METADATA_SEPARATOR.search(pair)
        if separated is None or separated.start() == 0:
            raise typer.BadParameter(f"expected key:value, got {pair!r}", param_hint=option)
        parsed[pair[: separated.start()]] = pair[separated.end() :]
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


def moment(value: str | None, option: str) -> datetime | None:
    """An ISO 8601 date or time from the command line; without a zone it is local time.

    Local, because that is how the tables print times: what a person reads is what they type.
    """
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as error:
        raise typer.BadParameter(
            f"expected an ISO 8601 date or time such as 2030-01-31 or 2030-01-31T18:00:00Z, "
            f"got {value!r}",
            param_hint=option,
        ) from error
    return parsed if parsed.tzinfo is not None else parsed.astimezone()
