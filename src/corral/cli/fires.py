"""`corral routines run` and `corral routines fires`: fire a routine now, and see its history.

A fire is one time a routine went off. It starts a run, or records why it did not (skipped,
filtered, a duplicate, failed); `run --wait` follows the run as `corral run` does.
"""

from __future__ import annotations

import itertools
import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import EXIT_FAILURE
from corral.cli.watch import watch
from corral.client import Corral
from corral.types.routines import Fire, FireStatus, SkipReason

RoutineName = Annotated[str, typer.Argument(help="The routine's name or id.")]
ERROR_CHARS = 48
FIRE_POLL_S = 0.5
"""How often `run --wait` looks at a fire that waits its turn."""
WAITING = frozenset({FireStatus.PENDING, FireStatus.QUEUED})
FIRE_STYLES = {
    FireStatus.PENDING: "yellow",
    FireStatus.QUEUED: "yellow",
    FireStatus.STARTED: "green",
    FireStatus.SKIPPED: "dim",
    FireStatus.FILTERED: "dim",
    FireStatus.DUPLICATE: "dim",
    FireStatus.FAILED: "red",
}


def run(
    ctx: typer.Context,
    routine: RoutineName,
    payload: Annotated[
        str | None,
        typer.Option(
            "--payload", "-p", help="JSON the input template sees as `payload` ('-': stdin)."
        ),
    ] = None,
    idempotency_key: Annotated[
        str | None,
        typer.Option(
            "--idempotency-key", help="Fire at most once per key: a repeat shows the first."
        ),
    ] = None,
    wait: Annotated[
        bool,
        typer.Option("--wait", "-w", help="Follow the run it starts, and exit with its outcome."),
    ] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Fire a routine now, paused or not; prints the fire and the run it started.

    Exits 1 when the fire starts no run (skipped, failed, …); with --wait, as `corral run` does.
    """
    corral = client(ctx)
    fire = corral.routines.run(routine, payload=_payload(payload), idempotency_key=idempotency_key)
    if wait:
        fire = _started(corral, routine, fire)
    if as_json:
        (output.print_json_line if wait else output.print_json)(fire)
    else:
        output.line(_fire_line(fire))
    if fire.status in WAITING:
        return
    if fire.run_id is None:
        raise typer.Exit(EXIT_FAILURE)
    if wait:
        watch(corral, corral.runs.retrieve(fire.run_id), as_json=as_json)


def _payload(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(sys.stdin.read() if text == "-" else text)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"not valid JSON: {error}", param_hint="--payload") from None


def _started(corral: Corral, routine: str, fire: Fire) -> Fire:
    """The fire once it started its run or came to nothing (a queued one waits its turn)."""
    if fire.status in WAITING:
        output.note(f"fire {fire.id} is {fire.status}: waiting for it to start")
    while fire.status in WAITING:
        time.sleep(FIRE_POLL_S)
        fire = corral.routines.fire(routine, fire.id)
    return fire


def _fire_line(fire: Fire) -> str:
    if fire.run_id is not None:
        return f"fire {fire.id} {fire.status}: run {fire.run_id}"
    if fire.error is not None:
        return f"fire {fire.id} {fire.status}: {fire.error.code}: {fire.error.message}"
    if fire.reason is not None:
        return f"fire {fire.id} {fire.status}: {fire.reason}"
    return f"fire {fire.id} {fire.status}"


def fires(
    ctx: typer.Context,
    routine: RoutineName,
    status: Annotated[
        FireStatus | None, typer.Option("--status", help="Only fires in this status.")
    ] = None,
    limit: options.Limit = 20,
    as_json: options.JsonFlag = False,
) -> None:
    """List a routine's fires, newest first, with the run each started or why it started none."""
    page = client(ctx).routines.fires(routine, status=status, limit=min(limit, 100))
    found = list(itertools.islice(page, limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["ID", "TRIGGER", "STATUS", "REASON", "SCHEDULED", "CREATED", "RUN"],
        (
            [
                f.id,
                f.trigger,
                Text(f.status, style=FIRE_STYLES.get(f.status, "")),
                _why(f),
                output.when(f.scheduled_at),
                output.when(f.created_at),
                f.run_id or "",
            ]
            for f in found
        ),
        empty="no fires",
    )


def _why(fire: Fire) -> str:
    """Why a fire started no run (its skip reason or error), and the missed times it stands for."""
    if fire.error is not None:
        return output.truncate(f"{fire.error.code}: {fire.error.message}", ERROR_CHARS)
    if fire.reason == SkipReason.MISSED:
        return f"missed {fire.missed} time{'s' if fire.missed != 1 else ''}"
    caught_up = f"+{fire.missed} missed" if fire.missed else ""
    return ", ".join(part for part in (fire.reason or "", caught_up) if part)


def register(app: typer.Typer) -> None:
    """Add `run` and `fires` to `corral routines`."""
    app.command("run")(run)
    app.command("fires")(fires)
