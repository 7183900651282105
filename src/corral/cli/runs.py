"""`corral run` (submit and watch one run live) and `corral runs …` (look at and manage runs).

Watching a run, and the exit status it decides, is `corral.cli.watch`.
"""

from __future__ import annotations

import contextlib
import itertools
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.text import Text

from corral.cli import options, output, run_inputs
from corral.cli.context import client
from corral.cli.transcript import event_line
from corral.cli.watch import watch as watch  # sessions and routines watch runs too
from corral.client import AnyEvent, Corral, NotFoundError, PermissionDeniedError
from corral.types.runs import Run, RunStatus

runs_app = typer.Typer(help="List, inspect, cancel and delete runs.", no_args_is_help=True)

RunId = Annotated[str, typer.Argument(help="The run's id (run_…).")]


def _permissions(
    text: str | None, ask: list[str] | None, deny: list[str] | None
) -> dict[str, Any] | None:
    """`--permissions` with the tools of `--ask` and `--deny` added (None when none is given)."""
    permissions = options.json_object(text, "--permissions")
    if not (ask or deny):
        return permissions
    permissions = permissions or {}
    tools = dict(permissions.get("tools") or {})
    tools.update(dict.fromkeys(ask or (), "ask"))
    tools.update(dict.fromkeys(deny or (), "deny"))
    return {**permissions, "tools": tools}


def _agent_source(
    agent: str | None,
    agent_version: int | None,
    model: str | None,
    instructions: str | None,
    session: str | None,
) -> dict[str, Any]:
    """What runs the prompt: a session, a stored agent, or an inline agent (model `test`)."""
    if session is not None:
        if agent is not None or agent_version is not None or model or instructions:
            raise typer.BadParameter(
                "a session runs its own agent: drop --agent, --model and --instructions",
                param_hint="--session",
            )
        return {"session": session}
    if agent is not None:
        if model is not None or instructions is not None:
            raise typer.BadParameter(
                "--model and --instructions make an inline agent: use them without --agent",
                param_hint="--agent",
            )
        return {"agent": agent, "agent_version": agent_version}
    if agent_version is not None:
        raise typer.BadParameter("needs --agent", param_hint="--agent-version")
    return {"model": model or "test", "instructions": instructions}


def run(
    ctx: typer.Context,
    prompt: Annotated[str, typer.Argument(help="The message for the agent ('-' reads stdin).")],
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
    session: Annotated[
        str | None,
        typer.Option("--session", "-s", help="Send the prompt to this session instead."),
    ] = None,
    permissions: Annotated[
        str | None,
        typer.Option(
            "--permissions",
            help='Permissions of the run\'s tool calls, as JSON: {"tools": {"bash": "ask"}}.',
        ),
    ] = None,
    ask: Annotated[
        list[str] | None,
        typer.Option("--ask", help="Hold this tool's calls for approval (repeatable)."),
    ] = None,
    deny: Annotated[
        list[str] | None,
        typer.Option("--deny", help="Never run this tool's calls (repeatable)."),
    ] = None,
    provider_key: run_inputs.ProviderKeySpecs = None,
    file: run_inputs.FilePaths = None,
    skill: run_inputs.Skills = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Run an agent on PROMPT and stream its answer live; Ctrl-C cancels the run.

    The run's id is printed on stderr as soon as it exists. A call held for approval is asked
    about at the terminal (or, without one, the commands that decide it are printed).
    """
    source = _agent_source(agent, agent_version, model, instructions, session)
    policy = _permissions(permissions, ask, deny)
    api_keys = run_inputs.provider_keys(provider_key)
    text = sys.stdin.read() if prompt == "-" else prompt
    corral = client(ctx)
    created = corral.runs.create(
        input=text,
        metadata=options.metadata(metadata),
        permissions=policy,
        api_keys=api_keys,
        files=run_inputs.input_files(corral, file),
        skills=run_inputs.skills(corral, skill),
        **source,
    )
    watch(corral, created, as_json=as_json)


@runs_app.command("list")
def list_runs(
    ctx: typer.Context,
    status: Annotated[
        RunStatus | None, typer.Option("--status", help="Only runs in this status.")
    ] = None,
    agent: Annotated[str | None, typer.Option("--agent", help="Only runs of this agent.")] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="Only runs of this session.")
    ] = None,
    parent: Annotated[
        str | None, typer.Option("--parent", help="Only the subagents this run started.")
    ] = None,
    root: Annotated[
        str | None, typer.Option("--root", help="Only the runs below this root run.")
    ] = None,
    metadata: options.MetadataPairs = None,
    since: options.Since = None,
    until: options.Until = None,
    limit: options.Limit = 20,
    as_json: options.JsonFlag = False,
) -> None:
    """List runs, newest first (--metadata filters must all match)."""
    page = client(ctx).runs.list(
        status=status,
        agent=agent,
        session=session,
        parent_run=parent,
        root_run=root,
        metadata=options.metadata(metadata),
        created_after=options.moment(since, "--since"),
        created_before=options.moment(until, "--until"),
        limit=min(limit, 100),
    )
    found = list(itertools.islice(page, limit))
    if as_json:
        output.print_json(found)
        return
    output.table(
        ["ID", "STATUS", "MODEL", "CREATED", "DURATION", "TOKENS IN/OUT", "COST"],
        (
            [
                r.id,
                output.status_text(r.status),
                r.model,
                output.when(r.created_at),
                output.format_duration(output.duration_s(r)),
                f"{r.usage.input_tokens}/{r.usage.output_tokens}",
                output.cost(r),
            ]
            for r in found
        ),
        empty="no runs",
    )


@runs_app.command("show")
def show(ctx: typer.Context, run_id: RunId, as_json: options.JsonFlag = False) -> None:
    """Show a run: status, agent, timing, usage, input and output."""
    found = client(ctx).runs.retrieve(run_id)
    if as_json:
        output.print_json(found)
        return
    show_run(found)


def show_run(run: Run) -> None:
    """The key fields of a run, one per line."""
    agent = f"{run.agent} (version {run.agent_version})" if run.agent else "inline"
    error = f"{run.error.code}: {run.error.message}" if run.error else None
    pending = ", ".join(f"{c.name} ({c.call_id})" for c in run.pending_tool_calls)
    output.details(
        [
            ("id", run.id),
            ("status", output.status_text(run.status)),
            ("agent", agent),
            ("model", run.model),
            ("session", run.session),
            ("parent", run.parent_run),
            ("root", run.root_run),
            ("depth", str(run.depth) if run.parent_run else None),
            ("subagents", str(run.subagents) if run.subagents else None),
            ("created", output.when(run.created_at)),
            ("started", output.when(run.started_at)),
            ("ended", output.when(run.ended_at)),
            ("duration", output.format_duration(output.duration_s(run))),
            ("usage", f"{output.tokens(run)} · {output.cost(run)}"),
            ("with subagents", _total(run)),
            ("metadata", ", ".join(f"{k}={v}" for k, v in run.metadata.items())),
            ("waiting for", pending),
            ("input", Text(_input_text(run.input))),
            ("output", Text(run.output) if run.output is not None else None),
            ("error", Text(error, style="red") if error else None),
        ]
    )


def _total(run: Run) -> str | None:
    """What the run and every run below it used, once it has started any."""
    total = run.total_usage
    if total is None:
        return None
    return f"{total.input_tokens} in / {total.output_tokens} out tokens · ${total.cost_usd:.4f}"


def _input_text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return "\n".join(f"{m.get('role')}: {m.get('content')}" for m in value)


@runs_app.command("events")
def events(
    ctx: typer.Context,
    run_id: RunId,
    after: Annotated[int, typer.Option("--after", min=0, help="Only events after this seq.")] = 0,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep streaming until the run ends.")
    ] = False,
    as_json: options.JsonFlag = False,
) -> None:
    """Print a run's events, one per line (--json: the event documents as JSON lines)."""
    corral = client(ctx)
    emit = output.print_json_line if as_json else _print_event_line
    if not follow:
        for event in corral.runs.events(run_id, after=after):
            emit(event)
        return
    with corral.runs.stream(run_id, after=after) as stream:
        for event in stream:
            emit(event)


def _print_event_line(event: AnyEvent) -> None:
    output.line(event_line(event))


@runs_app.command("tree")
def tree(ctx: typer.Context, run_id: RunId, as_json: options.JsonFlag = False) -> None:
    """Show a run and the subagents below it, each indented under the run that started it."""
    corral = client(ctx)
    found = corral.runs.tree(run_id)
    if as_json:
        output.print_json(found)
        return
    names = _agent_names(corral, {r.agent for r in found if r.agent is not None})
    top = found[0].depth
    output.table(
        ["RUN", "AGENT", "STATUS", "DURATION", "COST", "WITH SUBAGENTS"],
        (
            [
                "  " * (r.depth - top) + r.id,
                _agent_label(r, names),
                output.status_text(r.status),
                output.format_duration(output.duration_s(r)),
                output.cost(r),
                f"${r.total_usage.cost_usd:.4f}" if r.total_usage is not None else "",
            ]
            for r in found
        ),
        empty="no runs",
    )


def _agent_names(corral: Corral, agent_ids: set[str]) -> dict[str, str]:
    """The names of stored agents by id; one this key cannot read keeps its id."""
    names: dict[str, str] = {}
    for agent_id in sorted(agent_ids):
        with contextlib.suppress(NotFoundError, PermissionDeniedError):
            names[agent_id] = corral.agents.retrieve(agent_id).name
    return names


def _agent_label(run: Run, names: dict[str, str]) -> str:
    """The stored agent's name, `inline` for an `agent_spec`, `subagent` for an ad-hoc child."""
    if run.agent is not None:
        return names.get(run.agent, run.agent)
    return "subagent" if run.parent_run else "inline"


@runs_app.command("cancel")
def cancel(ctx: typer.Context, run_id: RunId, as_json: options.JsonFlag = False) -> None:
    """Cancel a run (one that already ended keeps its status)."""
    ended = client(ctx).runs.cancel(run_id)
    if as_json:
        output.print_json(ended)
    elif ended.status == RunStatus.CANCELLED:
        output.line(f"cancelled {ended.id}")
    else:
        output.line(f"{ended.id} had already ended: {ended.status}")


@runs_app.command("tool-result")
def tool_result(
    ctx: typer.Context,
    run_id: RunId,
    call_id: Annotated[
        str, typer.Argument(help="The client tool call's id (see `corral runs show RUN_ID`).")
    ],
    result: Annotated[
        str | None, typer.Option("--output", help="The tool's result, as text.")
    ] = None,
    error: Annotated[
        str | None, typer.Option("--error", help="Why the tool failed (the model sees it).")
    ] = None,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file", help="Read the result from this file (- for stdin).", allow_dash=True
        ),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Answer a client tool call the run waits for; the run resumes.

    Give exactly one of --output, --error or --file.
    """
    if sum(given is not None for given in (result, error, file)) != 1:
        raise typer.BadParameter("give exactly one of --output, --error or --file")
    if file is not None:
        result = sys.stdin.read() if str(file) == "-" else _read_text(file)
    accepted = client(ctx).runs.submit_tool_result(
        run_id, call_id=call_id, output=result, error=error
    )
    if as_json:
        output.print_json(accepted)
    else:
        output.line(f"answered {accepted.call_id} of {accepted.run_id}")


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise typer.BadParameter(
            f"cannot read {str(path)!r}: {error}", param_hint="--file"
        ) from None


@runs_app.command("delete")
def delete(ctx: typer.Context, run_id: RunId, as_json: options.JsonFlag = False) -> None:
    """Delete an ended run and its events."""
    client(ctx).runs.delete(run_id)
    if as_json:
        output.print_json({"id": run_id, "deleted": True})
    else:
        output.line(f"deleted {run_id}")


def register(app: typer.Typer) -> None:
    """Add `corral run` and `corral runs` to the root command."""
    app.command("run", rich_help_panel=options.HELP_PANEL)(run)
    app.add_typer(runs_app, name="runs", rich_help_panel=options.HELP_PANEL)
