"""Everything one executing run needs: its state, its budget, and the way it writes events.

Events are buffered and written in batches by a short-lived flusher, so a fast stream costs a
few transactions rather than one per delta. `save` writes the buffer together with the run's
checkpoint, and `finish` writes it together with the terminal event, each in one transaction,
so the log and the checkpoint never disagree: after a crash, the events logged after the last
checkpoint (the journal) are exactly what the resumed run must not emit again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import orjson

from corral.domain.budgets import Budget
from corral.domain.runs import TERMINAL_EVENT
from corral.errors import Unavailable
from corral.observability import metrics
from corral.providers.base import Provider
from corral.providers.catalog import CatalogEntry
from corral.providers.registry import Endpoint
from corral.pubsub.base import ENDED, QUEUE_CHANNEL, Broker, run_channel, session_channel
from corral.runtime.tooling import RunTooling
from corral.sandbox.pool import Environments
from corral.settings import Settings
from corral.storage import files as file_store
from corral.storage import progress
from corral.storage.database import Database
from corral.storage.events import NewEvent, StoredEvent
from corral.storage.runs import RunRecord
from corral.tools.registry import ToolSet
from corral.types.events import TERMINAL_EVENT_TYPES
from corral.types.runs import RunStatus

logger = logging.getLogger(__name__)

FLUSH_DELAY_S = 0.01
"""How long emitted events may wait to be batched with the next ones."""


class LeaseLost(Exception):
    """The run is no longer this worker's: it was cancelled, ended, or taken over."""


@dataclass
class RunState:
    """The checkpoint: enough to resume the run after a crash without redoing finished work."""

    messages: list[dict[str, Any]]
    """The whole conversation: session history, then this run's input and turns."""
    history: int = 0
    """How many leading messages came from the session (not appended back at the end)."""
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    pending: list[dict[str, Any]] = field(default_factory=list)
    """Tool calls of the last assistant turn still being worked on."""
    results: list[dict[str, Any]] = field(default_factory=list)
    """Results (tool_result blocks) already obtained for `pending`."""
    issued: bool = False
    """Whether the pending client tool calls were announced to the caller."""
    seq: int = 0
    """The last event seq this checkpoint covers."""

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as stored."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """Read a stored checkpoint."""
        return cls(**data)


@dataclass
class Journal:
    """Events a previous attempt logged after the last checkpoint."""

    has_started: bool = False
    text: str = ""
    thinking: str = ""
    started_tools: set[str] = field(default_factory=set)

    @classmethod
    def from_events(cls, events: Sequence[StoredEvent]) -> Journal:
        """Summarise the events logged after the checkpoint."""
        journal = cls()
        for stored in events:
            if stored.type == "run.started":
                journal.has_started = True
            elif stored.type in ("message.delta", "thinking.delta", "tool.started"):
                data = orjson.loads(stored.data)
                if stored.type == "message.delta":
                    journal.text += data["text"]
                elif stored.type == "thinking.delta":
                    journal.thinking += data["text"]
                else:
                    journal.started_tools.add(data["call_id"])
        return journal


def _suppress(already: str, text: str) -> tuple[str, str]:
    """Split `text` against what was already emitted: (what is left to skip, what to emit)."""
    if not already:
        return "", text
    if already.startswith(text):
        return already[len(text) :], ""
    if text.startswith(already):
        return "", text[len(already) :]
    return "", text


class RunContext:
    """One run as its worker executes it."""

    def __init__(
        self,
        *,
        run: RunRecord,
        state: RunState,
        journal: Journal,
        worker_id: str,
        database: Database,
        broker: Broker,
        clock: Callable[[], datetime],
        entry: CatalogEntry,
        provider: Provider,
        endpoint: Endpoint,
        settings: Settings,
        environments: Environments,
    ) -> None:
        self.run = run
        self.state = state
        self.journal = journal
        self.worker_id = worker_id
        self.database = database
        self.broker = broker
        self.clock = clock
        self.entry = entry
        self.provider = provider
        self.endpoint = endpoint
        self.settings = settings
        self.client_tool_timeout_s = settings.client_tool_timeout_s
        self.resync_s = settings.resync_s
        self.budget = Budget.from_spec(run.spec["limits"])
        self.tools = ToolSet(run.spec)
        self.tooling = RunTooling(
            run_id=run.id,
            workspace_id=run.workspace_id,
            key=run.session_id or run.id,
            spec=run.spec,
            tools=self.tools,
            environments=environments,
            private_hosts=tuple(settings.network_private_hosts),
            in_session=run.session_id is not None,
        )
        self.last_seq = run.last_seq
        self.cancel_requested = False
        self.ended = False
        self.is_waiting = False
        self.tool_results_ready = asyncio.Event()
        self._buffer: list[NewEvent] = []
        self._lock = asyncio.Lock()
        self._flush_timer: asyncio.TimerHandle | None = None
        self._flush_task: asyncio.Task[None] | None = None

    async def load_files(self, file_ids: list[str]) -> dict[str, bytes]:
        """Contents of the workspace's uploaded files (its inputs and skills)."""
        return dict(
            await self.database.read(file_store.file_contents, self.run.workspace_id, file_ids)
        )

    # -- emitting --------------------------------------------------------------------------

    def emit(self, event_type: str, **payload: Any) -> None:
        """Queue an event; it is written within `FLUSH_DELAY_S` or with the next save."""
        self._buffer.append((event_type, payload))
        if self._flush_timer is None and self._flush_task is None:
            self._flush_timer = asyncio.get_running_loop().call_later(
                FLUSH_DELAY_S, self._start_flush
            )

    def emit_delta(self, event_type: str, text: str) -> None:
        """Queue a text delta, skipping text a previous attempt already streamed."""
        if event_type == "message.delta":
            self.journal.text, text = _suppress(self.journal.text, text)
        else:
            self.journal.thinking, text = _suppress(self.journal.thinking, text)
        if text:
            self.emit(event_type, text=text)

    def _start_flush(self) -> None:
        self._flush_timer = None
        self._flush_task = asyncio.create_task(self._flush())

    async def _flush(self) -> None:
        try:
            async with self._lock:
                if self._buffer:
                    await self._commit(values={})
        except (LeaseLost, Unavailable) as error:
            logger.info(
                "flush failed: %s",
                type(error).__name__,
                extra={"action": "run.flush_failed", "run_id": self.run.id},
            )
            return
        finally:
            self._flush_task = None
        if self._buffer and self._flush_timer is None:
            # Events emitted while this flush was writing.
            self._flush_timer = asyncio.get_running_loop().call_later(
                FLUSH_DELAY_S, self._start_flush
            )

    def _cancel_timer(self) -> None:
        if self._flush_timer is not None:
            self._flush_timer.cancel()
            self._flush_timer = None

    # -- writing ---------------------------------------------------------------------------

    def _usage_values(self) -> dict[str, Any]:
        return {
            "input_tokens": self.state.input_tokens,
            "output_tokens": self.state.output_tokens,
            "cost_usd": self.state.cost_usd,
        }

    async def save(
        self,
        *,
        status: RunStatus | None = None,
        new_tool_calls: Sequence[dict[str, Any]] = (),
    ) -> None:
        """Write buffered events and the checkpoint (and a status change) atomically."""
        self._cancel_timer()
        # Shielded: a write cancelled half-way could commit without us knowing, and the events
        # would be written twice. The write runs to its end; the caller may still be cancelled.
        await asyncio.shield(self._save(status, new_tool_calls))

    async def _save(
        self, status: RunStatus | None, new_tool_calls: Sequence[dict[str, Any]]
    ) -> None:
        async with self._lock:
            self.state.seq = self.last_seq + len(self._buffer)
            values = {"checkpoint": self.state.to_json(), **self._usage_values()}
            if status is not None:
                values["status"] = status.value
            await self._commit(values=values, new_tool_calls=new_tool_calls)

    async def finish(
        self,
        status: RunStatus,
        *,
        output: str | None = None,
        error: dict[str, str] | None = None,
    ) -> None:
        """End the run: buffered events, the terminal event and the final state at once."""
        self._cancel_timer()
        await asyncio.shield(self._finish(status, output, error))

    async def _finish(
        self, status: RunStatus, output: str | None, error: dict[str, str] | None
    ) -> None:
        payload: dict[str, Any] = (
            {"output": output or ""} if status is RunStatus.COMPLETED else {"error": error}
        )
        values = {
            "status": status.value,
            "output": output,
            "error": error,
            "ended_at": self.clock(),
            "lease_owner": None,
            "lease_expires_at": None,
            "checkpoint": None,
            **self._usage_values(),
        }
        session_messages: list[dict[str, Any]] = []
        if status is RunStatus.COMPLETED and self.run.session_id is not None:
            session_messages = self.state.messages[self.state.history :]
        outputs = await self.tooling.outputs()
        async with self._lock:
            self._buffer.append((TERMINAL_EVENT[status], payload))
            await self._commit(values=values, session_messages=session_messages, outputs=outputs)
        self.ended = True
        metrics.RUNS_ENDED.labels(status.value).inc()
        if self.run.session_id is not None:
            await self.broker.publish(QUEUE_CHANNEL)

    async def _commit(
        self,
        *,
        values: dict[str, Any],
        new_tool_calls: Sequence[dict[str, Any]] = (),
        session_messages: Sequence[dict[str, Any]] = (),
        outputs: Sequence[tuple[str, bytes]] = (),
    ) -> None:
        events, self._buffer = self._buffer, []
        try:
            committed = await self.database.write(
                progress.save,
                run_id=self.run.id,
                session_id=self.run.session_id,
                events=events,
                now=self.clock(),
                owner=self.worker_id,
                values=values,
                new_tool_calls=new_tool_calls,
                session_messages=session_messages,
                outputs=outputs,
            )
        except BaseException:
            self._buffer[:0] = events
            raise
        if committed is None:
            raise LeaseLost(self.run.id)
        self.last_seq = committed.last_seq
        if events:
            metrics.EVENTS_APPENDED.inc(len(events))
            message = ENDED if events[-1][0] in TERMINAL_EVENT_TYPES else str(committed.last_seq)
            await self.broker.publish(run_channel(self.run.id), message)
            if committed.session_id is not None:
                await self.broker.publish(
                    session_channel(committed.session_id), str(committed.session_last_seq)
                )

    async def close(self) -> None:
        """Let a pending flush end and stop the run's tools (the run's task is ending)."""
        self._cancel_timer()
        if self._flush_task is not None:
            await self._flush_task
            self._flush_task = None
        await self.tooling.close()
