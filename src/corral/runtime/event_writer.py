"""How an executing run writes its events: batched, and never ahead of the checkpoint they imply.

Two kinds of events leave a run. *Streamed* events (`run.started`, text and thinking deltas,
`tool.started`, a running command's output) change nothing a resumed run relies on, so a
short-lived flusher writes them in batches: one emitted while the writer is idle is written at
once (the first token of a turn reaches subscribers without waiting), and those emitted while a
write is under way, or within `FLUSH_DELAY_S` of the last one, wait for the next batch.
Consecutive text or thinking deltas waiting in a batch become one event whose text is theirs
joined, so a fast stream costs a few transactions and a few events, not one per token (a
command's output is coalesced where it is read, `tools.streaming`).
*Checkpointed* events (a finished turn's `message.completed` and `usage`, tool results, client
tool calls) record progress that the run's checkpoint records too; they are held back and written
only in the same transaction as that checkpoint (`commit` with values) or the terminal event. A
worker that dies at any instant therefore leaves a log and a checkpoint that agree: whatever was
logged after the checkpoint is streamed output the resumed run must not emit again.

Order is kept: a streamed event emitted after a held one waits with it.

Whatever is written goes through the run's `Redactor` first, if it has secrets: no secret value
reaches the database, the subscribers or the session in clear.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from corral.domain.conversation import Message
from corral.domain.events import EventPayload, MessageDelta, ThinkingDelta
from corral.domain.redaction import Redactor
from corral.domain.tool_calls import PendingCall
from corral.errors import Unavailable
from corral.observability import metrics
from corral.pubsub.base import QUEUE_CHANNEL, Broker
from corral.pubsub.notices import publish_appended
from corral.storage import progress
from corral.storage.database import Database
from corral.storage.events import Committed, Lease, NewEvent
from corral.storage.recent import RecentEvents
from corral.storage.runs import RunRecord
from corral.types.events import TERMINAL_EVENT_TYPES

logger = logging.getLogger(__name__)

FLUSH_DELAY_S = 0.01
"""How long streamed events may wait to be batched with the next ones."""


class LeaseLost(Exception):
    """The run is no longer this worker's: it was cancelled, ended, or taken over."""


class EventWriter:
    """The event buffer of one run, its flusher, and its one way to the database."""

    def __init__(
        self,
        *,
        run: RunRecord,
        worker_id: str,
        database: Database,
        broker: Broker,
        clock: Callable[[], datetime],
        recent: RecentEvents | None = None,
        redactor: Redactor | None = None,
    ) -> None:
        self._run = run
        self._redactor = redactor if redactor else None
        self._worker_id = worker_id
        self._database = database
        self._broker = broker
        self._recent = recent
        self._clock = clock
        self.last_seq = run.last_seq
        """The seq of the last event committed."""
        self._buffer: list[NewEvent] = []
        self._held_from: int | None = None
        """Index in the buffer of the first checkpointed event (what the flusher stops at)."""
        self._lock = asyncio.Lock()
        self._flush_timer: asyncio.Handle | None = None
        self._flush_task: asyncio.Task[None] | None = None
        self._last_flush_at = -FLUSH_DELAY_S
        """When the last flush began (event loop time)."""
        self._open_text: list[str] | None = None
        """The pieces of the delta that ends the buffer, while more may join it."""

    @property
    def pending(self) -> int:
        """How many events wait to be written."""
        return len(self._buffer)

    def emit(self, event: EventPayload) -> None:
        """Queue a streamed event; it is written within `FLUSH_DELAY_S` or with the next commit."""
        if isinstance(event, (MessageDelta, ThinkingDelta)):
            self._emit_delta(event.type, event.text)
        else:
            self._close_text()
            self._buffer.append(event.entry())
        if self._held_from is None:
            self._schedule_flush()

    def _emit_delta(self, event_type: str, text: str) -> None:
        if self._open_text is not None and self._buffer[-1][0] == event_type:
            self._open_text.append(text)
            return
        self._close_text()
        self._buffer.append((event_type, {"text": text}))
        self._open_text = [text]

    def _close_text(self) -> None:
        """Give the delta that ends the buffer its whole text; nothing more joins it."""
        pieces, self._open_text = self._open_text, None
        if pieces is not None and len(pieces) > 1:
            self._buffer[-1][1]["text"] = "".join(pieces)

    def emit_checkpointed(self, event: EventPayload) -> None:
        """Queue an event that may only be written with the next checkpoint or terminal event."""
        self._close_text()
        if self._held_from is None:
            self._held_from = len(self._buffer)
        self._buffer.append(event.entry())

    async def flush(self) -> None:
        """Write the streamed events queued so far, now (say, before a call with effects)."""
        self._cancel_timer()
        await asyncio.shield(self._flush_streamed())

    async def commit(
        self,
        *,
        values: dict[str, Any],
        checkpoint: Callable[[int], dict[str, Any]] | None = None,
        terminal: EventPayload | None = None,
        new_tool_calls: Sequence[PendingCall] = (),
        session_messages: Sequence[Message] = (),
        outputs: Sequence[tuple[str, bytes]] = (),
        new_approvals: Sequence[dict[str, Any]] = (),
        wake: str | None = None,
        requeue: bool = False,
    ) -> None:
        """Write every queued event (and `terminal`, last) with `values` in one transaction.

        `checkpoint(seq)` makes the stored checkpoint, given the seq of the last event it covers.
        `new_tool_calls` are announced client calls, now awaited; `new_approvals` are calls a
        policy holds for a person; `session_messages` are the turns a completing run adds to
        its session; `wake` and `requeue` go to `progress.save`, and a run they queue again
        wakes the workers.
        Shielded: a write cancelled half-way could commit without us knowing, and the events
        would be written twice. The write runs to its end; the caller may still be cancelled.
        """
        self._cancel_timer()
        rows = [_tool_call_row(call) for call in new_tool_calls]
        messages = [message.to_json() for message in session_messages]
        await asyncio.shield(
            self._commit_all(
                values, checkpoint, terminal, rows, messages, outputs, new_approvals, wake, requeue
            )
        )

    async def close(self) -> None:
        """Let a flush already under way end; nothing more is written."""
        self._cancel_timer()
        if self._flush_task is not None:
            await self._flush_task
            self._flush_task = None

    # -- the flusher -----------------------------------------------------------------------

    def _schedule_flush(self) -> None:
        if self._flush_timer is not None or self._flush_task is not None:
            return
        loop = asyncio.get_running_loop()
        wait_s = self._last_flush_at + FLUSH_DELAY_S - loop.time()
        # At once means on the loop's next turn: a run that reaches its commit without
        # yielding (a short answer of the test model) still writes everything in one go.
        self._flush_timer = (
            loop.call_later(wait_s, self._start_flush)
            if wait_s > 0
            else loop.call_soon(self._start_flush)
        )

    def _start_flush(self) -> None:
        self._flush_timer = None
        self._last_flush_at = asyncio.get_running_loop().time()
        self._flush_task = asyncio.create_task(self._flush_in_background())

    async def _flush_in_background(self) -> None:
        try:
            await self._flush_streamed()
        except (LeaseLost, Unavailable) as error:
            logger.info(
                "flush failed: %s",
                type(error).__name__,
                extra={"action": "run.flush_failed", "run_id": self._run.id},
            )
            return
        finally:
            self._flush_task = None
        if self._held_from is None and self._buffer:
            self._schedule_flush()  # events emitted while this flush was writing

    async def _flush_streamed(self) -> None:
        async with self._lock:
            streamed = len(self._buffer) if self._held_from is None else self._held_from
            if streamed:
                await self._write(streamed, values={})

    def _cancel_timer(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None

    # -- writing ---------------------------------------------------------------------------

    async def _commit_all(
        self,
        values: dict[str, Any],
        checkpoint: Callable[[int], dict[str, Any]] | None,
        terminal: EventPayload | None,
        new_tool_calls: Sequence[dict[str, Any]],
        session_messages: Sequence[dict[str, Any]],
        outputs: Sequence[tuple[str, bytes]],
        new_approvals: Sequence[dict[str, Any]],
        wake: str | None,
        requeue: bool,
    ) -> None:
        async with self._lock:
            if terminal is not None:
                self.emit_checkpointed(terminal)
            if checkpoint is not None:
                values = {**values, "checkpoint": checkpoint(self.last_seq + len(self._buffer))}
            await self._write(
                len(self._buffer),
                values=values,
                new_tool_calls=new_tool_calls,
                session_messages=session_messages,
                outputs=outputs,
                new_approvals=new_approvals,
                wake=wake,
                requeue=requeue,
            )

    async def _write(
        self,
        count: int,
        *,
        values: dict[str, Any],
        new_tool_calls: Sequence[dict[str, Any]] = (),
        session_messages: Sequence[dict[str, Any]] = (),
        outputs: Sequence[tuple[str, bytes]] = (),
        new_approvals: Sequence[dict[str, Any]] = (),
        wake: str | None = None,
        requeue: bool = False,
    ) -> None:
        """Commit the first `count` queued events with `values`; the caller holds the lock."""
        if count == len(self._buffer):
            self._close_text()
        events, held_from = self._buffer[:count], self._held_from
        del self._buffer[:count]
        if held_from is not None:
            self._held_from = held_from - count if held_from >= count else None
        written = events
        if self._redactor is not None:
            redact = self._redactor
            written = [(kind, redact.tree(data)) for kind, data in events]
            values = redact.tree(values)
            new_tool_calls = redact.tree(list(new_tool_calls))
            session_messages = redact.tree(list(session_messages))
            new_approvals = redact.tree(list(new_approvals))
            outputs = [(redact.text(path), redact.data(data)) for path, data in outputs]
        try:
            one_statement = progress.is_one_statement(
                self._database.dialect,
                new_tool_calls=new_tool_calls,
                session_messages=session_messages,
                outputs=outputs,
                new_approvals=new_approvals,
                wake=wake,
                requeue=requeue,
            )
            write = self._database.write_statement if one_statement else self._database.write
            committed = await write(
                progress.save,
                run_id=self._run.id,
                session_id=self._run.session_id,
                events=written,
                now=self._clock(),
                owner=Lease(self._worker_id, self._run.attempts),
                values=values,
                new_tool_calls=new_tool_calls,
                session_messages=session_messages,
                outputs=outputs,
                new_approvals=new_approvals,
                wake=wake,
                requeue=requeue,
            )
        except BaseException:
            self._buffer[:0] = events
            if held_from is not None:
                self._held_from = held_from
            elif self._held_from is not None:  # held while this write was under way
                self._held_from += len(events)
            raise
        if committed is None:
            raise LeaseLost(self._run.id)
        self.last_seq = committed.last_seq
        await self._announce(events, committed)

    async def _announce(self, events: Sequence[NewEvent], committed: Committed) -> None:
        """Tell the run's readers what was appended, and the workers of a run queued again."""
        if committed.requeued:
            await self._broker.publish(QUEUE_CHANNEL)
        if not events:
            return
        metrics.EVENTS_APPENDED.inc(len(events))
        if self._recent is not None:
            self._recent.add(self._run.id, committed.events)
        ended = events[-1][0] in TERMINAL_EVENT_TYPES
        await publish_appended(self._broker, self._run.id, committed, ended=ended)


def _tool_call_row(call: PendingCall) -> dict[str, Any]:
    """An announced client call as the tool call store takes it."""
    return {
        "call_id": call.call_id,
        "name": call.name,
        "input": call.input,
        "deadline_at": call.deadline(),
    }
