"""`corral routines …`: agent work that starts on a schedule, a webhook or by hand.

`create` takes the common shape as options: any number of schedules in one time zone, and at
most one webhook trigger. Anything else (schedules in several zones, several webhooks) is made
through the SDK or the API, and every other command shows and fires it the same way. Firing
by hand and the history of fires are in `cli/fires.py`.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from corral.cli import fires, options, output
from corral.cli.context import client
from corral.cli.errors import confirm_delete
from corral.client import Corral, NotFoundError, PermissionDeniedError
from corral.types.routines import (
    CatchUp,
    Overlap,
    Routine,
    ScheduleTrigger,
    SessionMode,
    VerifyScheme,
    WebhookTrigger,
)

routines_app = typer.Typer(
    help="Agent work that starts on a schedule, a webhook, or by hand.", no_args_is_help=True
)

RoutineName = Annotated[str, typer.Argument(help="The routine's name or id.")]
DESCRIPTION_CHARS = 48


@routines_app.command("create")
def create(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A name, unique in the workspace.")],
    agent: Annotated[str, typer.Option("--agent", "-a", help="The stored agent it runs.")],
    input_text: Annotated[
        str | None,
        typer.Option("--input", "-i", help="The input template each fire renders for its run."),
    ] = None,
    input_file: Annotated[
        Path | None,
        typer.Option(
            "--input-file", dir_okay=False, help="Read the input template from a file ('-': stdin)."
        ),
    ] = None,
    crons: Annotated[
        list[str] | None,
        typer.Option("--cron", help="A cron schedule, e.g. '0 9 * * 1-5' (repeatable)."),
    ] = None,
    timezone: Annotated[
        str | None, typer.Option("--timezone", help="IANA time zone of every --cron (default UTC).")
    ] = None,
    webhook: Annotated[
        bool, typer.Option("--webhook", help="Add a webhook trigger: a URL that fires it.")
    ] = False,
    verify: Annotated[
        VerifyScheme | None,
        typer.Option("--verify", help="Check the webhook's signature (needs --secret)."),
    ] = None,
    secret: Annotated[
        str | None, typer.Option("--secret", help="The vault secret --verify checks with.")
    ] = None,
    payload_filter: Annotated[
        str | None,
        typer.Option("--filter", help="Fire only on payloads this JSONPath query selects."),
    ] = None,
    dedupe_key: Annotated[
        str | None,
        typer.Option("--dedupe-key", help="JSONPath of a payload key; repeats start nothing."),
    ] = None,
    dedupe_window: Annotated[
        int | None,
        typer.Option("--dedupe-window", min=1, help="Seconds a --dedupe-key is remembered."),
    ] = None,
    session: Annotated[
        SessionMode | None, typer.Option("--session", help="Where fires run (default none).")
    ] = None,
    catch_up: Annotated[
        CatchUp | None,
        typer.Option("--catch-up", help="What schedules do about missed times (default skip)."),
    ] = None,
    overlap: Annotated[
        Overlap | None,
        typer.Option("--overlap", help="What a fire does while a run goes on (default skip)."),
    ] = None,
    agent_version: Annotated[
        int | None,
        typer.Option("--agent-version", min=1, help="Pin a version (default: latest per fire)."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="What the routine is for.")
    ] = None,
    metadata: options.MetadataPairs = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Create a routine: NAME runs --agent on --input, on each --cron and/or its webhook."""
    triggers = _schedules(crons, timezone)
    hook = _webhook(webhook, verify, secret, payload_filter, dedupe_key, dedupe_window)
    if hook is not None:
        triggers.append(hook)
    fields: dict[str, Any] = {
        "description": description,
        "agent_version": agent_version,
        "session": session,
        "catch_up": catch_up,
        "overlap": overlap,
        "metadata": options.metadata(metadata),
        "paused": paused or None,
    }
    corral = client(ctx)
    created = corral.routines.create(
        name=name,
        agent=agent,
        input=_template(input_text, input_file),
        triggers=triggers,
        **{k: v for k, v in fields.items() if v is not None},
    )
    if as_json:
        output.print_json(created)
        return
    output.line(f"routine {created.name} created ({created.id}, {created.status})")
    for trigger in created.triggers:
        if isinstance(trigger, WebhookTrigger):
            output.line(f"webhook URL: {corral.base_url}{trigger.path}")
        elif trigger.next_fire_at is not None:
            output.line(f"next fire: {output.when(trigger.next_fire_at)} ({trigger.cron})")


def _template(text: str | None, path: Path | None) -> str:
    if (text is None) == (path is None):
        raise typer.BadParameter(
            "give exactly one of --input and --input-file", param_hint="--input"
        )
    if path is None:
        return str(text)
    if str(path) == "-":
        return sys.stdin.read()
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise typer.BadParameter(
            f"cannot read {path}: {error}", param_hint="--input-file"
        ) from None


def _schedules(crons: list[str] | None, timezone: str | None) -> list[dict[str, Any]]:
    if timezone is not None and not crons:
        raise typer.BadParameter("applies to --cron schedules: give one", param_hint="--timezone")
    zone = {} if timezone is None else {"timezone": timezone}
    return [{"type": "schedule", "cron": cron, **zone} for cron in crons or ()]


def _webhook(
    wanted: bool,
    verify: VerifyScheme | None,
    secret: str | None,
    payload_filter: str | None,
    dedupe_key: str | None,
    dedupe_window: int | None,
) -> dict[str, Any] | None:
    """The webhook trigger the options describe; its settings need `--webhook` to be given."""
    if (verify is None) != (secret is None):
        raise typer.BadParameter("--verify and --secret go together", param_hint="--verify")
    if dedupe_window is not None and dedupe_key is None:
        raise typer.BadParameter("needs --dedupe-key", param_hint="--dedupe-window")
    configured = any(v is not None for v in (verify, payload_filter, dedupe_key))
    if not wanted:
        if configured:
            raise typer.BadParameter(
                "these settings are the webhook's: add it", param_hint="--webhook"
            )
        return None
    trigger: dict[str, Any] = {"type": "webhook"}
    if verify is not None:
        trigger["verify"] = {"scheme": verify, "secret": secret}
    if payload_filter is not None:
        trigger["filter"] = payload_filter
    if dedupe_key is not None:
        window = {} if dedupe_window is None else {"window_s": dedupe_window}
        trigger["dedupe"] = {"key": dedupe_key, **window}
    return trigger


@routines_app.command("list")
def list_routines(
    ctx: typer.Context, limit: options.Limit = 50, as_json: options.JsonFlag = False
) -> None:
    """List routines, newest first, with their triggers and next fire."""
    corral = client(ctx)
    found = list(itertools.islice(corral.routines.list(limit=min(limit, 100)), limit))
    if as_json:
        output.print_json(found)
        return
    names = _agent_names(corral, {r.agent for r in found})
    output.table(
        ["NAME", "ID", "STATUS", "AGENT", "TRIGGERS", "NEXT FIRE", "LAST FIRED", "DESCRIPTION"],
        (
            [
                r.name,
                r.id,
                _status(r),
                names[r.agent],
                _trigger_summary(r),
                output.when(_next_fire(r)),
                output.when(r.last_fired_at),
                output.truncate(r.description, DESCRIPTION_CHARS),
            ]
            for r in found
        ),
        empty="no routines (create one with `corral routines create`)",
    )


@routines_app.command("show")
def show(ctx: typer.Context, routine: RoutineName, as_json: options.JsonFlag = False) -> None:
    """Show a routine: its settings, each schedule's next times and each webhook's URL."""
    corral = client(ctx)
    found = corral.routines.retrieve(routine)
    if as_json:
        output.print_json(found)
        return
    paused = found.paused_reason
    name = _agent_names(corral, {found.agent})[found.agent]
    agent = found.agent if name == found.agent else f"{name} · {found.agent}"
    version = f"version {found.agent_version}" if found.agent_version else "latest version"
    output.details(
        [
            ("name", found.name),
            ("id", found.id),
            ("status", _status(found)),
            (
                "paused",
                f"{paused.code}: {paused.message} ({output.when(paused.at)})" if paused else None,
            ),
            ("agent", f"{agent} ({version})"),
            ("session", found.session + (f" ({found.session_id})" if found.session_id else "")),
            ("overlap", found.overlap),
            ("catch up", found.catch_up),
            ("metadata", ", ".join(f"{k}={v}" for k, v in found.metadata.items())),
            ("description", found.description),
            ("created", output.when(found.created_at)),
            ("last fired", output.when(found.last_fired_at)),
            *itertools.chain.from_iterable(_trigger_rows(corral, t) for t in found.triggers),
            ("input", Text(found.input)),
        ]
    )


def _trigger_rows(
    corral: Corral, trigger: ScheduleTrigger | WebhookTrigger
) -> list[tuple[str, str | None]]:
    """A trigger's lines in `show`: what sets it off, then its settings, indented."""
    if isinstance(trigger, ScheduleTrigger):
        upcoming = "\n".join(output.when(moment) for moment in trigger.upcoming)
        return [
            ("schedule", f"{trigger.cron} ({trigger.timezone}) · {trigger.id}"),
            ("  next fires", upcoming if trigger.next_fire_at else "none while paused"),
        ]
    verify, dedupe = trigger.verify, trigger.dedupe
    return [
        ("webhook", f"{corral.base_url}{trigger.path} · {trigger.id}"),
        ("  verify", f"{verify['scheme']} with secret {verify['secret']}" if verify else None),
        ("  filter", trigger.filter),
        ("  dedupe", f"{dedupe['key']} within {dedupe['window_s']} s" if dedupe else None),
    ]


@routines_app.command("pause")
def pause(ctx: typer.Context, routine: RoutineName, as_json: options.JsonFlag = False) -> None:
    """Stop its schedules and webhooks; `run` still fires it."""
    paused = client(ctx).routines.pause(routine)
    if as_json:
        output.print_json(paused)
    else:
        output.line(f"paused routine {paused.name}")


@routines_app.command("resume")
def resume(ctx: typer.Context, routine: RoutineName, as_json: options.JsonFlag = False) -> None:
    """Make it active again; its schedules go on from now."""
    resumed = client(ctx).routines.resume(routine)
    if as_json:
        output.print_json(resumed)
        return
    next_fire = _next_fire(resumed)
    after = f" (next fire {output.when(next_fire)})" if next_fire else ""
    output.line(f"resumed routine {resumed.name}{after}")


@routines_app.command("delete")
def delete(
    ctx: typer.Context,
    routine: RoutineName,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Delete a routine and its fires; the runs it started stay (asks first, unless --yes)."""
    if not yes:
        confirm_delete(f"delete the routine {routine} and its history?")
    client(ctx).routines.delete(routine)
    if as_json:
        output.print_json({"routine": routine, "deleted": True})
    else:
        output.line(f"deleted routine {routine}")


def _agent_names(corral: Corral, agent_ids: set[str]) -> dict[str, str]:
    """The names of the routines' agents by id; one this key cannot read (or gone) keeps its id."""
    names = dict.fromkeys(agent_ids, "")
    for agent_id in sorted(agent_ids):
        with contextlib.suppress(NotFoundError, PermissionDeniedError):
            names[agent_id] = corral.agents.retrieve(agent_id).name
    return {agent_id: name or agent_id for agent_id, name in names.items()}


def _status(routine: Routine) -> Text:
    return Text(routine.status, style="green" if routine.status == "active" else "yellow")


def _trigger_summary(routine: Routine) -> str:
    """`0 9 * * 1-5 (Europe/Paris), webhook`; `by hand` for a routine with no trigger."""
    parts = [
        f"{t.cron} ({t.timezone})" if isinstance(t, ScheduleTrigger) else "webhook"
        for t in routine.triggers
    ]
    return ", ".join(parts) or "by hand"


def _next_fire(routine: Routine) -> datetime | None:
    """The soonest time any of its schedules fires, or None."""
    times = [
        t.next_fire_at
        for t in routine.triggers
        if isinstance(t, ScheduleTrigger) and t.next_fire_at is not None
    ]
    return min(times, default=None)


fires.register(routines_app)


def register(app: typer.Typer) -> None:
    """Add `corral routines` to the root command."""
    app.add_typer(routines_app, name="routines", rich_help_panel=options.HELP_PANEL)
