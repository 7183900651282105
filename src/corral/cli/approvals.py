"""`corral approvals …` (held tool calls and decisions), and a watched run's approval prompt.

A run whose permissions `ask` about a call waits until someone decides. A watched run asks at
the terminal when stdin is one. Anywhere else nobody could answer, so it prints the commands
that decide, for another terminal or a script, and keeps waiting.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import typer
from rich.console import Console
from rich.text import Text

from corral.cli import options, output
from corral.cli.context import client
from corral.client import ApprovalRequested, ConflictError, Corral, Decision
from corral.types.permissions import Approval, ApprovalStatus

approvals_app = typer.Typer(
    help="Decide the tool calls that wait for a person's approval.", no_args_is_help=True
)

RunId = Annotated[str, typer.Argument(help="The run's id (run_…).")]
CallId = Annotated[str, typer.Argument(help="The held call's id (see `corral approvals list`).")]
INPUT_CHARS = 48
ALLOW_ANSWERS = frozenset({"y", "yes", "a", "allow"})
DENY_ANSWERS = frozenset({"n", "no", "d", "deny"})

APPROVAL_STYLES = {
    ApprovalStatus.PENDING: "magenta",
    ApprovalStatus.ALLOWED: "green",
    ApprovalStatus.DENIED: "red",
    ApprovalStatus.EXPIRED: "yellow",
    ApprovalStatus.WITHDRAWN: "yellow",
}


class StatusFilter(StrEnum):
    """`--status`: one status, or `any`."""

    PENDING = "pending"
    ALLOWED = "allowed"
    DENIED = "denied"
    EXPIRED = "expired"
    WITHDRAWN = "withdrawn"
    ANY = "any"


@approvals_app.command("list")
def list_approvals(
    ctx: typer.Context,
    status: Annotated[
        StatusFilter,
        typer.Option("--status", help="Only approvals in this status (`any` for all)."),
    ] = StatusFilter.PENDING,
    agent: Annotated[
        str | None, typer.Option("--agent", help="Only calls of this agent's runs.")
    ] = None,
    session: Annotated[
        str | None, typer.Option("--session", help="Only calls of this session's runs.")
    ] = None,
    run: Annotated[str | None, typer.Option("--run", help="Only calls of this run.")] = None,
    metadata: options.MetadataPairs = None,
    limit: options.Limit = 20,
    as_json: options.JsonFlag = False,
) -> None:
    """List held tool calls, newest first: by default those still waiting for a decision."""
    page = client(ctx).approvals.list(
        status=None if status is StatusFilter.ANY else status.value,
        agent=agent,
        session=session,
        run=run,
        metadata=options.metadata(metadata),
        limit=min(limit, 100),
    )
    found = list(itertools.islice(page, limit))
    if as_json:
        output.print_json(found)
        return
    now = datetime.now(UTC)
    output.table(
        ["ID", "RUN", "CALL", "TOOL", "INPUT", "POLICY", "STATUS", "AGE"],
        (
            [
                a.id,
                a.run_id,
                a.call_id,
                a.tool,
                output.truncate(output.compact_json(a.input), INPUT_CHARS),
                a.policy,
                Text(a.status, style=APPROVAL_STYLES.get(a.status, "")),
                age(a.created_at, now),
            ]
            for a in found
        ),
        empty="no pending approvals" if status is StatusFilter.PENDING else "no approvals",
    )


@approvals_app.command("allow")
def allow(
    ctx: typer.Context,
    run_id: RunId,
    call_id: CallId,
    input: Annotated[
        str | None,
        typer.Option("--input", help="Run the call with these arguments instead (a JSON object)."),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Let a held call run; the run goes on once all its held calls are decided."""
    edited = options.json_object(input, "--input")
    _print_decided(client(ctx).approvals.allow(run_id, call_id, input=edited), as_json)


@approvals_app.command("deny")
def deny(
    ctx: typer.Context,
    run_id: RunId,
    call_id: CallId,
    message: Annotated[
        str | None,
        typer.Option("--message", "-m", help="Why: the model reads it as the call's error."),
    ] = None,
    as_json: options.JsonFlag = False,
) -> None:
    """Refuse a held call: it never runs, and the model reads that a person denied it."""
    _print_decided(client(ctx).approvals.deny(run_id, call_id, message=message), as_json)


def _print_decided(approval: Approval, as_json: bool) -> None:
    if as_json:
        output.print_json(approval)
        return
    output.line(f"{approval.status} {approval.tool} ({approval.call_id}) of {approval.run_id}")


def age(moment: datetime, now: datetime) -> str:
    """`12 s`, `5 min`, `3 h` or `2 d`: how long ago, to the unit that matters."""
    seconds = max(0, int((now - moment).total_seconds()))
    for unit, size in (("d", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"


def decide_commands(request: ApprovalRequested) -> str:
    """The commands that decide a held call, ready to paste."""
    ids = f"{request.run_id} {request.call_id}"
    return f"`corral approvals allow {ids}` or `corral approvals deny {ids}`"


def prompt(
    request: ApprovalRequested, *, describe: bool, console: Console = output.stderr
) -> Decision | None:
    """Ask at the terminal whether the call may run; None when stdin ends before an answer.

    `describe` shows the tool, policy and input first (when no transcript drew them). A denial
    asks for an optional message for the model.
    """
    if describe:
        shown = output.compact_json(request.input)
        console.print(
            f"{request.name} asks for approval ({request.policy}): {shown}", soft_wrap=True
        )
    try:
        while True:
            answer = console.input(Text(f"allow {request.name}? [y/n] ")).strip().lower()
            if answer in ALLOW_ANSWERS:
                return Decision.allow()
            if answer in DENY_ANSWERS:
                message = console.input(Text("message for the model (Enter for none): ")).strip()
                return Decision.deny(message or None)
            console.print("answer y (allow) or n (deny)")
    except EOFError:
        return None


@dataclass
class Approver:
    """Answers a watched run's `approval.requested` events: at the terminal, or with commands.

    The commands are for someone else (another terminal, a script) to decide with.
    """

    corral: Corral
    interactive: bool
    """Whether stdin is a terminal a person answers at."""
    describe: bool
    """Whether to show what is asked (no transcript shows it)."""

    def __call__(self, request: ApprovalRequested) -> bool:
        """Whether the call was decided here."""
        if self.interactive:
            decision = prompt(request, describe=self.describe)
            if decision is not None:
                return self._post(request, decision)
            self.interactive = False  # stdin ended: nobody can answer here any more
        output.note(
            f"{request.run_id} waits for approval of {request.name} ({request.call_id}): "
            f"decide with {decide_commands(request)}"
        )
        return False

    def _post(self, request: ApprovalRequested, decision: Decision) -> bool:
        try:
            self.corral.approvals.decide(
                request.run_id,
                request.call_id,
                decision=decision.decision,
                message=decision.message,
                input=decision.input,
            )
        except ConflictError as error:
            output.note(f"{request.name} ({request.call_id}) was not decided here: {error.message}")
            return False
        return True


def register(app: typer.Typer) -> None:
    """Add `corral approvals` to the root command."""
    app.add_typer(approvals_app, name="approvals", rich_help_panel=options.HELP_PANEL)
