"""SDK errors as one line on stderr: the code, the message, the field, and what to do about it.

`main()` is the one place that catches them; commands just let `CorralError` rise. Usage errors
stay Typer's (exit status 2); everything here exits with status 1.
"""

from __future__ import annotations

import re
import sys

import typer
from rich.text import Text

from corral.cli.output import note, stderr
from corral.client import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    CorralError,
    PermissionDeniedError,
    RateLimitError,
    RunError,
)

EXIT_FAILURE = 1

HINTS = {
    "unauthorized": "set CORRAL_API_KEY or pass --api-key",
    "forbidden": "use a key that may do this",
    "not_found": "check the id or name (`corral runs list`, `corral agents list`)",
    "invalid_model": "see `corral models` for the models this server can run",
    "run_active": "wait for the run to end, or cancel it with `corral runs cancel`",
    "run_terminal": "the run has already ended",
    "session_ended": "start a new session with `corral sessions create`",
    "approval_conflict": "it was already decided: see `corral approvals list --status any`",
    "approval_expired": "it waited too long: the run failed with `approval_timeout`",
    "idempotency_conflict": "use a new idempotency key for a different request",
    "routine_paused": "resume it with `corral routines resume NAME`",
    "unknown_tool_call": "check the call id (`corral runs show RUN_ID` lists those it waits for)",
    "unavailable": "the server is not ready: check its database and logs",
    "internal_error": "the server failed: see its logs",
}

NOT_FOUND_HINTS = {
    "run": "check the id (`corral runs list`)",
    "agent": "check the id or name (`corral agents list`)",
    "version": "check the version (`corral agents versions NAME`)",
    "session": "check the id (`corral sessions list`)",
    "file": "check the id (`corral files list`)",
    "output": "check the output name (`corral outputs RUN_ID`)",
    "key": "check the id (`corral keys list`)",
    "secret": "check the name (`corral secrets list`)",
    "approval": "check the run and call ids (`corral approvals list`)",
    "workspace": "check the id or name (`corral workspaces list`, on the server)",
    "webhook": "check the id (`corral webhooks list`)",
    "delivery": "check the message id (`corral webhooks deliveries WEBHOOK_ID`)",
    "routine": "check the id or name (`corral routines list`)",
    "fire": "check the id (`corral routines fires NAME`)",
    "route": "check the server's address, which takes no path (CORRAL_BASE_URL or --base-url)",
}
"""Where to look for each kind of missing object, by the word the server's message names it with
(`no secret 'X'`, `run run_… has no output 'x'`); other messages get `HINTS["not_found"]`."""

_MISSING = re.compile(r"\bno (?:live )?([a-z]+) ")

CANDIDATES_SHOWN = 8
"""Most of an error's `candidates` the line names; the rest are counted."""


class CommandError(CorralError):
    """A client command could not do its work for a reason the SDK does not know about."""

    def __init__(self, code: str, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.hint = hint


def _hint(error: CorralError, base_url: str | None) -> str | None:
    if isinstance(error, APIConnectionError):
        where = f" at {base_url}" if base_url else ""
        return f"is the server running{where}? (set CORRAL_BASE_URL or pass --base-url)"
    if isinstance(error, PermissionDeniedError) and error.required_scope:
        return f"use a key with the `{error.required_scope}` scope"
    if isinstance(error, RateLimitError) and error.retry_after_s is not None:
        return f"try again in {error.retry_after_s:.0f} s"
    if isinstance(error, CommandError):
        return error.hint
    if isinstance(error, APIStatusError):
        hint = _not_found_hint(error.message) if error.code == "not_found" else None
        hint = _joined(_suggestion(error.candidates), hint or HINTS.get(error.code))
        if hint is None and error.status >= 500:
            hint = HINTS["internal_error"]
        if hint and error.request_id and error.status >= 500:
            hint += f" (request id {error.request_id})"
        return hint
    return None


def _not_found_hint(message: str) -> str | None:
    named = _MISSING.search(message)
    return NOT_FOUND_HINTS.get(named.group(1)) if named else None


def _suggestion(candidates: list[str]) -> str | None:
    """`did you mean x?` for one candidate, `one of: a, b, c` for several."""
    if not candidates:
        return None
    if len(candidates) == 1:
        return f"did you mean {candidates[0]}?"
    shown = ", ".join(candidates[:CANDIDATES_SHOWN])
    more = len(candidates) - CANDIDATES_SHOWN
    return f"one of: {shown}" + (f" (and {more} more)" if more > 0 else "")


def _joined(first: str | None, then: str | None) -> str | None:
    return "; ".join(part for part in (first, then) if part) or None


def _code_and_message(error: CorralError) -> tuple[str, str]:
    if isinstance(error, APIStatusError | CommandError):
        return error.code, error.message
    if isinstance(error, APITimeoutError):
        return "timeout", str(error)
    if isinstance(error, APIConnectionError):
        return "connection_error", str(error)
    if isinstance(error, RunError):
        return error.code or error.run.status, str(error)
    return "error", str(error)


def describe(error: CorralError, base_url: str | None = None) -> Text:
    """`error: not_found: no run 'run_x' (field: /x) — check the id …` as one line."""
    code, message = _code_and_message(error)
    line = Text("error: ", style="bold red")
    line.append(f"{code}: {message}")
    if isinstance(error, APIStatusError) and error.field:
        line.append(f" (field: {error.field})")
    hint = _hint(error, base_url)
    if hint:
        line.append(f" — {hint}", style="dim")
    return line


def report(error: CorralError, base_url: str | None = None) -> int:
    """Print the error line; returns the exit status."""
    stderr.print(describe(error, base_url), soft_wrap=True)
    return EXIT_FAILURE


def confirm_delete(question: str) -> None:
    """Ask at a terminal; elsewhere nobody can answer, so `--yes` must say it."""
    if not sys.stdin.isatty():
        raise CommandError(
            "confirmation_required", "stdin is not a terminal to confirm on", "pass --yes"
        )
    if not typer.confirm(question, err=True):
        note("nothing deleted")
        raise typer.Exit(1)
