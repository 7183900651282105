"""A run watched live, as `corral run`, `corral sessions send` and `routines fire` show it.

Stdout carries what the run says (or, with `--json`, its events); notes about the watch go to
stderr: the run's id as soon as it exists, and a hint when no worker seems to be taking it. The
run decides the exit status: 0 when it completed, 1 when it failed, timed out or was cancelled,
130 when Ctrl-C cancelled it.
"""

from __future__ import annotations

import sys
import threading
from typing import NoReturn

import typer
from rich.text import Text

from corral.cli import output
from corral.cli.approvals import Approver
from corral.cli.transcript import Transcript
from corral.client import ApprovalRequested, Corral
from corral.types.runs import Run, RunStatus

EXIT_INTERRUPTED = 130

QUEUED_HINT_S = 5.0
"""How long a run may wait for a worker before the watch says how to start one."""


def watch(corral: Corral, run: Run, *, as_json: bool) -> NoReturn:
    """Stream `run` until it ends, then print its summary and exit with its outcome.

    Ctrl-C cancels the run. In JSON mode stdout carries only the events, one per line. A call
    held for approval is asked about at the terminal, if stdin is one (see `Approver`).
    """
    output.note(Text(f"run {run.id} {run.status}", style="dim"))
    view = None if as_json else Transcript(output.stdout)
    approver = Approver(corral, interactive=sys.stdin.isatty(), describe=view is None)
    hint = QueuedHint(run, view)
    try:
        _follow(corral, run.id, view, approver, hint)
    except KeyboardInterrupt:
        _finish(corral.runs.cancel(run.id), as_json, EXIT_INTERRUPTED)
    finally:
        hint.cancel()
    _finish(corral.runs.retrieve(run.id), as_json)


class QueuedHint:
    """One note when a queued run has seen no event for a while: most often, no worker runs.

    It may also wait for its session's earlier run, or for room under the workspace's limit
    of concurrent runs, so the note asks rather than asserts. The spinner of `view` stops while
    the note prints: it redraws its line, and would overwrite it.
    """

    def __init__(
        self, run: Run, view: Transcript | None = None, delay_s: float = QUEUED_HINT_S
    ) -> None:
        self._run_id = run.id
        self._view = view
        self._delay_s = delay_s
        self._timer: threading.Timer | None = None
        if run.status == RunStatus.QUEUED:
            self._timer = threading.Timer(delay_s, self._note)
            self._timer.daemon = True
            self._timer.start()

    def cancel(self) -> None:
        """The run has moved (or the watch ended): no note is due any more."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _note(self) -> None:
        if self._view is not None:
            self._view.pause()
        output.note(
            Text(
                f"{self._run_id} is still queued after {self._delay_s:g} s: is a worker "
                "running? Start one with `corral worker`, or use `corral serve`, which runs one",
                style="yellow",
            )
        )
        if self._view is not None:
            self._view.spin("queued")


def _follow(
    corral: Corral,
    run_id: str,
    view: Transcript | None,
    approver: Approver,
    hint: QueuedHint,
) -> None:
    if view is not None:
        view.begin()
    try:
        with corral.runs.stream(run_id) as events:
            for event in events:
                hint.cancel()
                if view is None:
                    output.print_json_line(event)
                else:
                    view.show(event)
                if isinstance(event, ApprovalRequested):
                    _approve(event, view, approver)
    finally:
        if view is not None:
            view.end()


def _approve(event: ApprovalRequested, view: Transcript | None, approver: Approver) -> None:
    """Ask about a held call with the spinner stopped, then spin for what comes next."""
    if view is not None:
        view.pause()
    decided = approver(event)
    if view is not None:
        view.spin("working" if decided else f"waiting for approval of {event.name}")


def _finish(run: Run, as_json: bool, exit_code: int | None = None) -> NoReturn:
    console = output.stderr if as_json else output.stdout
    console.print(output.summary(run), soft_wrap=True)
    if exit_code is None:
        exit_code = 0 if run.status == RunStatus.COMPLETED else 1
    raise typer.Exit(exit_code)
