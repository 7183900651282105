"""How the client commands print: tables and fields for people, JSON for scripts.

Results go to stdout and notes to stderr, so `--json` output can always be piped. Lists print
one JSON array, event streams one JSON document per line.
"""

from __future__ import annotations

import json
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel
from rich.console import Console
from rich.table import Table
from rich.text import Text

from corral.types.runs import Run, RunStatus

PIPED_WIDTH = 240
"""Columns of piped output: wide, so that tables do not wrap in files and pipes."""

WRAPPING_COLUMNS = frozenset({"DESCRIPTION", "INSTRUCTIONS"})
"""Table columns whose text may wrap; every other column keeps its values on one line."""

stdout = Console(markup=False, emoji=False, highlight=False)
stderr = Console(stderr=True, markup=False, emoji=False, highlight=False)
"""Both print text as it is: agents and users write brackets and colons that are not markup."""
if not stdout.is_terminal:
    stdout.width = PIPED_WIDTH

STATUS_STYLES: dict[str, str] = {
    RunStatus.QUEUED: "yellow",
    RunStatus.RUNNING: "cyan",
    RunStatus.WAITING: "magenta",
    RunStatus.COMPLETED: "green",
    RunStatus.FAILED: "red",
    RunStatus.CANCELLED: "yellow",
    RunStatus.TIMED_OUT: "red",
}


def jsonable(value: Any) -> Any:
    """A wire object (or a list of them) as plain JSON data, with the fields the server sent."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_unset=True)
    if isinstance(value, list | tuple):
        return [jsonable(item) for item in value]
    if isinstance(value, dict):
        return {key: jsonable(item) for key, item in value.items()}
    return value


def print_json(value: Any) -> None:
    """Print one JSON document, indented."""
    print(json.dumps(jsonable(value), indent=2, ensure_ascii=False), flush=True)


def print_json_line(value: Any) -> None:
    """Print one JSON document on a single line (for streams of events)."""
    print(json.dumps(jsonable(value), ensure_ascii=False, separators=(",", ":")), flush=True)


def line(message: str | Text) -> None:
    """One line of results, on stdout (never wrapped: the terminal wraps it if it must)."""
    stdout.print(message, soft_wrap=True)


def note(message: str | Text) -> None:
    """A message for the person at the terminal, on stderr."""
    stderr.print(message, soft_wrap=True)


def table(columns: Sequence[str], rows: Iterable[Sequence[str | Text]], empty: str) -> None:
    """A table of rows, or `empty` (on stderr) when there are none."""
    grid = Table(box=None, header_style="bold", pad_edge=False)
    for column in columns:
        grid.add_column(column, no_wrap=column not in WRAPPING_COLUMNS)
    for row in rows:
        grid.add_row(*row)
    if grid.row_count == 0:
        note(empty)
        return
    _print_block(grid)


def details(fields: Iterable[tuple[str, str | Text | None]]) -> None:
    """Name/value lines of one object, leaving out the empty ones."""
    grid = Table.grid(padding=(0, 2))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    for name, value in fields:
        if value not in (None, ""):
            grid.add_row(name, value)
    _print_block(grid)


def _print_block(renderable: Table) -> None:
    """Print a table; piped, without the padding rich leaves at the ends of lines."""
    if stdout.is_terminal:
        stdout.print(renderable)
        return
    with stdout.capture() as captured:
        stdout.print(renderable)
    sys.stdout.write("".join(line.rstrip() + "\n" for line in captured.get().splitlines()))
    sys.stdout.flush()


def when(moment: datetime | None) -> str:
    """A time in the local time zone, to the second."""
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S") if moment else ""


def status_text(status: str) -> Text:
    """A run status, coloured by what it means."""
    return Text(status, style=STATUS_STYLES.get(status, ""))


def duration_s(run: Run) -> float | None:
    """How long the run ran, once it has ended."""
    if run.ended_at is None:
        return None
    return (run.ended_at - (run.started_at or run.created_at)).total_seconds()


def format_duration(seconds: float | None) -> str:
    """`45 ms`, `1.2 s` or `3 min 5 s`."""
    if seconds is None:
        return ""
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if rest else f"{minutes} min"


def tokens(run: Run) -> str:
    """`120 in / 40 out tokens`."""
    return f"{run.usage.input_tokens} in / {run.usage.output_tokens} out tokens"


def cost(run: Run) -> str:
    """`$0.0012`."""
    return f"${run.usage.cost_usd:.4f}"


def summary(run: Run) -> Text:
    """The last line of a run: `completed in 1.2 s · 120 in / 40 out tokens · $0.0000 · run_…`."""
    line = Text()
    line.append(run.status, style=f"bold {STATUS_STYLES[run.status]}")
    parts = [f" in {format_duration(duration_s(run))}" if run.ended_at else ""]
    if run.error is not None:
        parts.append(f" · {run.error.code}: {run.error.message}")
    parts += [f" · {tokens(run)}", f" · {cost(run)}", f" · {run.id}"]
    line.append("".join(parts))
    return line


def compact_json(value: Any) -> str:
    """`value` as one line of JSON, readable but unable to hide what it says.

    An agent writes the arguments a person approves: control and formatting characters (bidi
    overrides, zero-width ones) could make a command look like another, so they show as escapes.
    """
    text = json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    return "".join(
        f"\\u{ord(char):04x}" if unicodedata.category(char) in _HIDING else char for char in text
    )


_HIDING = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
"""Unicode categories that render as nothing, or move what follows."""


def truncate(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, with an ellipsis when cut."""
    return text if len(text) <= limit else text[: limit - 1] + "…"
