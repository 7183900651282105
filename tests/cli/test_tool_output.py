"""`corral run` prints a command's output as it streams, under its call, escaped."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from corral.cli.transcript import Transcript, shown_output
from corral.types.events import ToolCompleted, ToolOutputDelta, ToolStarted


def test_run_prints_the_streamed_lines_under_the_call_then_how_it_ended(cli):
    command = "for i in 1 2 3; do echo streamed-$i; sleep 0.3; done"

    result = cli("run", f"[[call bash {json.dumps({'command': command})}]]")

    out = result.stdout
    call_panel, rest = out.split("╰", 1)
    streamed, result_panel = rest.split("╭─ bash ✓", 1)
    assert "tool bash" in call_panel
    assert streamed.split("\n", 1)[1] == "streamed-1\nstreamed-2\nstreamed-3\n", out
    # The result's panel says how it ended, not again what streamed (the model's answer may).
    assert "[exit code 0]" in result_panel.split("╰", 1)[0]
    assert "streamed" not in result_panel.split("╰", 1)[0]


def test_streamed_output_cannot_drive_the_terminal_but_keeps_its_lines():
    buffer = io.StringIO()
    console = Console(file=buffer, width=200, markup=False, emoji=False, highlight=False)
    view = Transcript(console)
    base: dict[str, Any] = {"seq": 1, "run_id": "run_p", "created_at": datetime.now(UTC)}
    view.show(ToolStarted(**base, call_id="c1", name="bash", input={"command": "make"}))
    view.show(ToolOutputDelta(**base, call_id="c1", text="\x1b[2Jbuilding\r\n\tstep"))
    view.show(ToolOutputDelta(**base, call_id="c1", text=" one\u202e done\n"))
    view.show(
        ToolCompleted(
            **base,
            call_id="c1",
            name="bash",
            ok=True,
            output="\x1b[2Jbuilding\r\n\tstep one\u202e done\n[exit code 0]",
            error=None,
        )
    )
    view.end()

    shown = buffer.getvalue().splitlines()
    assert shown[3] == "\\u001b[2Jbuilding"
    assert shown[4].strip() == "step one\\u202e done"  # the tab, expanded
    assert "[exit code 0]" in shown[6] and "building" not in "".join(shown[5:])
    assert shown_output("a\u200bb\x07\n") == "a\\u200bb\\u0007\n"
