"""A run's events drawn as they arrive: text inline, tool calls as panels, a spinner between.

`Transcript` is what `corral run` shows; `event_line` is the one-line form `corral runs events`
prints. Both ignore event types they do not know, as clients must. A command's output streamed
while it runs is printed dimmed under its call's panel, with the characters that could hide or
disguise text (terminal escapes, bidi overrides) shown as escapes: the agent chose the command.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.status import Status
from rich.text import Text

from corral.cli.output import compact_json, truncate
from corral.client import AnyEvent
from corral.types.events import (
    ApprovalDecided,
    ApprovalRequested,
    ClientToolCall,
    ClientToolResult,
    MessageCompleted,
    MessageDelta,
    RunStarted,
    SubagentCompleted,
    SubagentStarted,
    ThinkingDelta,
    ToolCompleted,
    ToolOutputDelta,
    ToolStarted,
)
from corral.types.runs import RunStatus

PANEL_CHARS = 600
"""Longest tool input or output shown in a panel."""

LINE_VALUE_CHARS = 200
"""Longest field value shown in an event line."""

SUBAGENT_ANSWER_CHARS = 200
"""Longest subagent output or error shown after its status."""

_BASE_FIELDS = {"seq", "type", "run_id", "created_at"}

COMMAND_TOOLS = frozenset({"bash", "git"})
"""Builtin tools whose result ends with how the command ended: `[exit code 1]`, `[killed: …]`."""
_COMMAND_ENDING = re.compile(r"\[(exit code -?\d+|killed[^\]\n]*)\]\Z")

_HIDING = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
"""Unicode categories that render as nothing or move what follows (as `compact_json` escapes)."""
_KEPT = frozenset("\n\t")
"""Of those, the ones output keeps: its lines and indentation."""


def shown_output(text: str) -> str:
    r"""Command output as the transcript prints it, unable to drive or disguise the terminal.

    Every hiding character but newlines and tabs is written as an escape (`\u001b`).
    """
    text = text.replace("\r\n", "\n")
    return "".join(
        f"\\u{ord(char):04x}"
        if char not in _KEPT and unicodedata.category(char) in _HIDING
        else char
        for char in text
    )


def _panel(title: str, body: str, style: str, note: str | None = None) -> Panel:
    content = Text(truncate(body, PANEL_CHARS) or "(empty)")
    if note:
        content.append(f"\n{note}", style="dim")
    return Panel(content, title=title, title_align="left", border_style=style, expand=False)


class Transcript:
    """Draws one run's events on a console, as they come."""

    def __init__(self, console: Console) -> None:
        self._console = console
        self._status: Status | None = None
        if console.is_terminal:
            self._status = console.status("queued", spinner="dots")
        self._open_line: str | None = None
        """`message` or `thinking` while a streamed line is unfinished."""
        self._held: dict[str, str] = {}
        """Tool names of the calls held for approval, by call id."""
        self._children: dict[str, str] = {}
        """Tool names of the calls that started subagents, by child run id."""
        self._streamed: dict[str, str] = {}
        """The output streamed so far of the calls still running, by call id."""
        self._draw: dict[str, Callable[[Any], None]] = {
            "run.started": self._started,
            "thinking.delta": self._thinking,
            "message.delta": self._delta,
            "message.completed": self._completed,
            "tool.started": self._tool_started,
            "tool.output_delta": self._tool_output,
            "tool.completed": self._tool_completed,
            "client_tool.call": self._client_call,
            "client_tool.result": self._client_result,
            "approval.requested": self._approval_requested,
            "approval.decided": self._approval_decided,
            "subagent.started": self._subagent_started,
            "subagent.completed": self._subagent_completed,
        }

    def begin(self) -> None:
        """Show the spinner while the run waits for a worker."""
        self._spin("queued")

    def show(self, event: AnyEvent) -> None:
        """Draw one event."""
        draw = self._draw.get(event.type)
        if draw is not None:
            draw(event)

    def end(self) -> None:
        """Stop the spinner and finish an open line."""
        if self._status is not None:
            self._status.stop()
        self._finish_line()

    def pause(self) -> None:
        """Stop the spinner, so that a prompt or a note can use the terminal."""
        self._pause()

    def spin(self, label: str) -> None:
        """Show the spinner with `label` (unless a streamed line is open)."""
        self._spin(label)

    def _spin(self, label: str) -> None:
        if self._status is not None and self._open_line is None:
            self._status.update(label)
            self._status.start()

    def _pause(self) -> None:
        if self._status is not None:
            self._status.stop()

    def _finish_line(self) -> None:
        if self._open_line is not None:
            self._console.print()
            self._open_line = None

    def _write(self, text: str, kind: str, style: str = "") -> None:
        self._pause()
        if self._open_line not in (None, kind):
            self._finish_line()
        self._console.print(text, end="", style=style, soft_wrap=True)
        self._console.file.flush()
        self._open_line = kind

    def _print(self, renderable: Panel | Text) -> None:
        self._pause()
        self._finish_line()
        self._console.print(renderable)

    def _started(self, event: RunStarted) -> None:
        self._spin(f"running on {event.model}")

    def _thinking(self, event: ThinkingDelta) -> None:
        self._write(event.text, "thinking", style="dim italic")

    def _delta(self, event: MessageDelta) -> None:
        self._write(event.text, "message")

    def _completed(self, event: MessageCompleted) -> None:
        if self._open_line != "message" and event.text:
            self._write(event.text, "message")
        self._finish_line()
        self._spin("working")

    def _tool_started(self, event: ToolStarted) -> None:
        self._print(_panel(f"tool {event.name}", compact_json(event.input), "cyan"))
        self._spin(f"running {event.name}")

    def _tool_output(self, event: ToolOutputDelta) -> None:
        self._streamed[event.call_id] = self._streamed.get(event.call_id, "") + event.text
        self._write(shown_output(event.text), "output", style="dim")
        if event.text.endswith("\n"):
            self._open_line = None  # the line is finished already

    def _tool_completed(self, event: ToolCompleted) -> None:
        body = event.output if event.ok else event.error
        streamed = self._streamed.pop(event.call_id, "").rstrip("\n")
        if streamed and body and body.startswith(streamed):
            body = body[len(streamed) :].lstrip("\n")  # what was not shown: how it ended
        failed = tool_failed(event)
        style = "red" if failed else "green"
        self._print(_panel(f"{event.name} {'✗' if failed else '✓'}", body or "", style))
        self._spin("working")

    def _client_call(self, event: ClientToolCall) -> None:
        hint = f"waiting for its result at POST /v1/runs/{event.run_id}/tool-results"
        self._print(_panel(f"client tool {event.name}", compact_json(event.input), "magenta", hint))
        self._spin(f"waiting for the result of {event.name}")

    def _client_result(self, event: ClientToolResult) -> None:
        failed = event.error is not None
        body = (event.error if failed else event.output) or ""
        self._print(_panel(f"client tool result {'✗' if failed else '✓'}", body, "magenta"))
        self._spin("working")

    def _approval_requested(self, event: ApprovalRequested) -> None:
        self._held[event.call_id] = event.name
        note = f"asks for approval ({event.policy})"
        self._print(_panel(f"approval {event.name}", compact_json(event.input), "magenta", note))

    def _approval_decided(self, event: ApprovalDecided) -> None:
        allowed = event.decision == "allow"
        name = self._held.get(event.call_id, event.call_id)
        line = Text(
            f"{'allowed' if allowed else 'denied'} {name}", style="green" if allowed else "red"
        )
        if event.message:
            line.append(f": {event.message}")
        if event.input is not None:
            line.append(f" with {compact_json(event.input)}", style="dim")
        self._print(line)
        self._spin("working")

    def _subagent_started(self, event: SubagentStarted) -> None:
        self._children[event.child_run_id] = event.name
        line = Text(f"▸ subagent {event.name} started {event.child_run_id}", style="cyan")
        line.append(f" (depth {event.depth})", style="dim")
        self._print(line)
        self._spin(f"waiting for {event.name}")

    def _subagent_completed(self, event: SubagentCompleted) -> None:
        self._print(subagent_ended(event, self._children.get(event.child_run_id)))
        self._spin("working")


def tool_failed(event: ToolCompleted) -> bool:
    """Whether the call failed: an error, or a command that exited non-zero or was killed.

    A command's result is `ok` whenever it ran, for the model reads how it ended; a person
    watching wants a failure to look like one.
    """
    if not event.ok:
        return True
    if event.name not in COMMAND_TOOLS or not event.output:
        return False
    ending = _COMMAND_ENDING.search(event.output)
    return ending is not None and ending.group(1) != "exit code 0"


def subagent_ended(event: SubagentCompleted, name: str | None) -> Text:
    """`◂ subagent helper completed run_…: "hi"`, what it said escaped: agent text is untrusted."""
    ok = event.status == RunStatus.COMPLETED
    called = f"{name} " if name else ""
    line = Text(
        f"◂ subagent {called}{event.status} {event.child_run_id}", style="green" if ok else "red"
    )
    if event.error is not None:
        answer = f"{event.error.code}: {compact_json(event.error.message)}"
    else:
        answer = compact_json(event.output or "")
    line.append(f": {truncate(answer, SUBAGENT_ANSWER_CHARS)}")
    line.append(f" · ${event.cost_usd:.4f}", style="dim")
    return line


def event_line(event: AnyEvent) -> Text:
    """`   7  17:45:55.123  message.delta       text="Hello"`: one event on one line."""
    payload = {
        name: value
        for name, value in event.model_dump(mode="json").items()
        if name not in _BASE_FIELDS
    }
    line = Text(f"{event.seq:>5}  {_clock(event.created_at)}  ", style="dim")
    line.append(f"{event.type:<19}", style="bold")
    line.append(
        " ".join(
            f"{name}={truncate(compact_json(value), LINE_VALUE_CHARS)}"
            for name, value in payload.items()
        )
    )
    return line


def _clock(moment: datetime | str) -> str:
    """`17:45:55.123` in the local time zone."""
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone().strftime("%H:%M:%S.%f")[:12]
