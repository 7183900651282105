"""`corral sessions …`: open a conversation, message it (watched live), read it, end or purge it."""

from __future__ import annotations

import itertools
from typing import Annotated, Any

import typer
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.cli.errors import confirm_delete
from corral.cli.runs import watch
from corral.types.messages import Message
from corral.types.sessions import Session, SessionSummary

sessions_app = typer.Typer(
    help="Conversations whose messages run one at a time.", no_args_is_help=True
)

SessionId = Annotated[str, typer.Argument(help="The session's id (ses_…).")]


@sessions_app.command("create")
def create(
    ctx: typer.Context,
    agent: Annotated[
        str | None, typer.Option("--agent", "-a", help="A stored agent, by name or id.")
    ] = None,
    agent_version: Annotated[
        int | None,
        typer.Option("--agent-version", min=1, help="Version of --agent (default: latest)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Model of an inline agent (default: test)."),
    ] = None,
    instructions: Annotated[
        str | None, typer.Option("--instructions", "-i", help="Instructions of an inline agent.")
    ] = None,
    metadata: options.MetadataPairs = None,
    permissions: Annotated[
        str | None,
        typer.Option(
            "--permissions",
            help="Permissions of every run of the session, as JSON (over the agent's).",
        ),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Open a session; prints its id (so `SES=$(corral sessions create)` works)."""
    source: dict[str, Any]
    if agent is not None:
        if model is not None or instructions is not None:
            raise typer.BadParameter(
                "--model and --instructions make an inline agent: use them without --agent",
                param_hint="--agent",
            )
        source = {"agent": agent, "agent_version": agent_version}
    elif agent_version is not None:
        raise typer.BadParameter("needs --agent", param_hint="--agent-version")
    else:
        spec = {"model": model or "test"}
        if instructions is not None:
            spec["instructions"] = instructions
        source = {"agent_spec": spec}
    session = client(ctx).sessions.create(
        metadata=options.metadata(metadata),
        permissions=options.json_object(permissions, "--permissions"),
        **source,
    )
    if as_json:
        output.print_json(session)
        return
    output.line(session.id)
    output.note(f"session {session.id} opened ({_agent_label(session)})")


@sessions_app.command("send")
def send(
    ctx: typer.Context,
    session_id: SessionId,
    message: Annotated[str, typer.Argument(help="The message to send.")],
    metadata: options.MetadataPairs = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Send a message and stream its run live, like `corral run`; Ctrl-C cancels the run."""
    corral = client(ctx)
    run = corral.sessions.messages.create(
        session_id, input=message, metadata=options.metadata(metadata)
    )
    watch(corral, run, as_json=as_json)


@sessions_app.command("list")
def list_sessions(
    ctx: typer.Context, limit: options.Limit = 20, as_json: options.JsonFlag = False
) -> None:
    """List sessions, newest first."""
    found = list(itertools.islice(client(ctx).sessions.list(limit=min(limit, 100)), limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["ID", "STATUS", "AGENT", "MODEL", "CREATED", "UPDATED"],
        (
            [
                s.id,
                s.status,
                _agent_label(s) if s.agent else "inline",
                s.model,
                output.when(s.created_at),
                output.when(s.updated_at),
            ]
            for s in found
        ),
        empty="no sessions",
    )


@sessions_app.command("show")
def show(ctx: typer.Context, session_id: SessionId, as_json: options.JsonFlag = False) -> None:
    """Show a session and its conversation."""
    session = client(ctx).sessions.retrieve(session_id)
    if as_json:
        output.print_json(session)
        return
    output.details(
        [
            ("id", session.id),
            ("status", session.status),
            ("agent", _agent_label(session)),
            ("created", output.when(session.created_at)),
            ("updated", output.when(session.updated_at)),
            ("metadata", ", ".join(f"{k}={v}" for k, v in session.metadata.items())),
            ("messages", str(len(session.messages))),
        ]
    )
    for message in session.messages:
        output.line(_message_line(message))


@sessions_app.command("end")
def end(ctx: typer.Context, session_id: SessionId, as_json: options.JsonFlag = False) -> None:
    """End a session: it takes no more messages, and its active run is cancelled."""
    session = client(ctx).sessions.end(session_id)
    if as_json:
        output.print_json(session)
        return
    output.line(f"ended {session.id}")


@sessions_app.command("delete")
def delete(
    ctx: typer.Context,
    session_id: SessionId,
    purge: Annotated[
        bool,
        typer.Option(
            "--purge",
            help="Erase it for good: its conversation, runs, events, outputs and subagents.",
        ),
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """End a session, as `end` does; with --purge, erase it (asks first, unless --yes).

    A purge is refused while a run of the session is going: end the session first.
    """
    if not purge:
        end(ctx, session_id, as_json=as_json)
        return
    if not yes:
        confirm_delete(f"erase the session {session_id}, its runs and all their history?")
    client(ctx).sessions.delete(session_id, purge=True)
    if as_json:
        output.print_json({"id": session_id, "purged": True})
    else:
        output.line(f"purged {session_id}")


def _agent_label(session: Session | SessionSummary) -> str:
    if session.agent:
        return f"agent {session.agent} version {session.agent_version}"
    return f"inline agent on {session.model}"


def _message_line(message: Message) -> Text:
    """`user: Hello` — text blocks as text, tool calls and results in brackets."""
    line = Text(f"{message.role}: ", style="bold")
    if isinstance(message.content, str):
        line.append(message.content)
        return line
    parts: list[str] = []
    for block in message.content:
        if block.type == "text":
            parts.append(block.text)
        elif block.type == "tool_call":
            parts.append(f"[calls {block.name}]")
        elif block.type == "tool_result":
            parts.append(f"[{block.name} returned {output.truncate(block.output, 80)!r}]")
    line.append(" ".join(parts))
    return line


def register(app: typer.Typer) -> None:
    """Add `corral sessions` to the root command."""
    app.add_typer(sessions_app, name="sessions", rich_help_panel=options.HELP_PANEL)
