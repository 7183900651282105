"""Everything one executing run needs: its state, its budget, and its event writer.

`save` writes the queued events together with the run's checkpoint, and `finish` writes them
together with the terminal event, each in one transaction (see `event_writer`), so the log and
the checkpoint never disagree: after a crash, the events logged after the last checkpoint (the
journal) are exactly what the resumed run must not emit again.

The run's usage columns are written with every checkpoint, so a run that ends any way keeps the
usage of its finished model calls. A call cut short counts what it used so far (`count_cut_short`),
written with the ending of a failed or timed-out run, or after the ending of a cancelled one
(`keep_cancelled_usage`), since a cancel ends the run in the database before the worker knows.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.domain.compaction import ContextState
from corral.domain.conversation import Message, ToolResult, parse_messages, parse_tool_result
from corral.domain.event_log import format_time
from corral.domain.events import (
    EventPayload,
    Failure,
    MessageDelta,
    ThinkingDelta,
    Usage,
)
from corral.domain.redaction import Redactor, StreamRedactor
from corral.domain.run_spec import RunSpec
from corral.domain.tool_calls import PendingCall, parse_pending_call
from corral.observability import metrics
from corral.observability.logging import log_run_end
from corral.providers.base import Provider, UsageUpdate
from corral.providers.catalog import CatalogEntry
from corral.providers.registry import Endpoint
from corral.runtime.accumulator import TurnAccumulator
from corral.runtime.event_writer import EventWriter, LeaseLost
from corral.runtime.journal import Journal
from corral.runtime.lineage import Lineage
from corral.runtime.outputs import keep_within_limit
from corral.runtime.tooling import RunTooling
from corral.sandbox.pool import Environments
from corral.storage import files as file_store
from corral.storage import runs as run_store
from corral.storage.runs import RunRecord
from corral.tools.registry import ToolSet
from corral.types.runs import RunStatus

__all__ = ["Journal", "LeaseLost", "RunContext", "RunState"]


@dataclass
class RunState:
    """The checkpoint: enough to resume the run after a crash without redoing finished work."""

    messages: list[Message]
    """The whole conversation: session history, then this run's input and turns."""
    history: int = 0
    """How many leading messages came from the session (not appended back at the end)."""
    turns: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    pending: list[PendingCall] = field(default_factory=list)
    """Tool calls of the last assistant turn still being worked on."""
    results: list[ToolResult] = field(default_factory=list)
    """Results already obtained for `pending`."""
    issued: bool = False
    """Whether the pending client tool calls were announced to the caller."""
    seq: int = 0
    """The last event seq this checkpoint covers."""
    parked_at: str | None = None
    """When the run last let go of its worker to wait for approvals (not part of its time)."""
    paused_s: float = 0.0
    """Seconds spent waiting for approvals before that, which its timeout does not count."""
    context: ContextState = field(default_factory=ContextState)
    """What the model is sent of `messages`: a summary of the oldest ones, if any."""

    def to_json(self) -> dict[str, Any]:
        """The checkpoint as stored (at every tool call: new dicts, the values shared)."""
        stored = {
            "messages": [message.to_json() for message in self.messages],
            "history": self.history,
            "turns": self.turns,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": self.cost_usd,
            "pending": [call.to_json() for call in self.pending],
            "results": [result.to_json() for result in self.results],
            "issued": self.issued,
            "seq": self.seq,
        }
        if self.parked_at is not None or self.paused_s:
            stored |= {"parked_at": self.parked_at, "paused_s": self.paused_s}
        if context := self.context.to_json():
            stored["context"] = context
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunState:
        """Read a stored checkpoint; keys an older one lacks take their defaults."""
        return cls(
            messages=parse_messages(data.get("messages") or ()),
            history=int(data.get("history", 0)),
            turns=int(data.get("turns", 0)),
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
            pending=[parse_pending_call(call) for call in data.get("pending") or ()],
            results=[parse_tool_result(result) for result in data.get("results") or ()],
            issued=bool(data.get("issued", False)),
            seq=int(data.get("seq", 0)),
            parked_at=data.get("parked_at"),
            paused_s=float(data.get("paused_s", 0.0)),
            context=ContextState.from_json(data.get("context") or {}),
        )


_DELTAS = ("message.delta", "thinking.delta")


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
        spec: RunSpec,
        secrets: Mapping[str, str],
        state: RunState,
        journal: Journal,
        worker_id: str,
        services: ServiceContext,
        entry: CatalogEntry,
        provider: Provider,
        endpoint: Endpoint,
        environments: Environments,
        lineage: Lineage,
    ) -> None:
        settings = services.settings
        self.run = run
        self.state = state
        self.journal = journal
        self.worker_id = worker_id
        self.services = services
        self.clock = services.clock
        self.entry = entry
        self.provider = provider
        self.endpoint = endpoint
        self.client_tool_timeout_s = settings.client_tool_timeout_s
        self.resync_s = settings.resync_s
        self.spec = spec
        """The run's spec with its secret references filled in: never stored."""
        self.secrets = secrets
        """The values of the secrets the run names, by name."""
        self.redactor = Redactor(secrets)
        """Puts `[secret:NAME]` in place of the run's secret values in all it writes."""
        self._streams = {kind: StreamRedactor(self.redactor) for kind in _DELTAS}
        self.budget = self.spec.limits
        self.tools = ToolSet(self.spec)
        self.tooling = RunTooling(
            run_id=run.id,
            workspace_id=run.workspace_id,
            key=run.session_id or run.id,
            spec=self.spec,
            tools=self.tools,
            environments=environments,
            private_hosts=tuple(settings.network_private_hosts),
            in_session=run.session_id is not None,
        )
        self.events = EventWriter(
            run=run,
            worker_id=worker_id,
            database=services.database,
            broker=services.broker,
            clock=services.clock,
            recent=services.recent,
            redactor=self.redactor,
        )
        self.status = RunStatus(run.status)
        """The status last written (the claim's, then each `save`'s)."""
        self.cancel_requested = False
        self.model_call: TurnAccumulator | None = None
        """The stream of the model call under way, if any (see `count_cut_short`)."""
        self._written_usage: dict[str, Any] | None = None
        self.ended = False
        self.is_waiting = False
        self.tool_results_ready = asyncio.Event()
        self.lineage = lineage
        self.spawned = run.children > 0
        """Whether the run has started subagents (which end when it ends)."""
        self.deadline: datetime | None = None
        """When the run times out (set when it starts executing)."""

    async def load_files(self, file_ids: list[str]) -> dict[str, bytes]:
        """Contents of the workspace's uploaded files (its inputs and skills)."""
        return dict(
            await self.services.database.read(
                file_store.file_contents, self.run.workspace_id, file_ids
            )
        )

    # -- emitting --------------------------------------------------------------------------

    def emit(self, event: EventPayload) -> None:
        """Queue a streamed event (see `EventWriter`): written within a few milliseconds."""
        self._end_streams()
        self.events.emit(event)

    def emit_checkpointed(self, event: EventPayload) -> None:
        """Queue an event recording progress: written only with the next `save` or `finish`."""
        self._end_streams()
        self.events.emit_checkpointed(event)

    def emit_delta(self, event_type: str, text: str) -> None:
        """Queue a text delta, redacted, skipping text a previous attempt already streamed."""
        if self.redactor:
            self._end_streams(but=event_type)
            text = self._streams[event_type].feed(text)
        self._emit_delta(event_type, text)

    def _emit_delta(self, event_type: str, text: str) -> None:
        if event_type == "message.delta":
            self.journal.text, text = _suppress(self.journal.text, text)
            if text:
                self.events.emit(MessageDelta(text=text))
        else:
            self.journal.thinking, text = _suppress(self.journal.thinking, text)
            if text:
                self.events.emit(ThinkingDelta(text=text))

    def _end_streams(self, but: str | None = None) -> None:
        """Write the text a stream held back (it began like a secret, then did not go on)."""
        if not self.redactor:
            return
        for kind, stream in self._streams.items():
            held = stream.flush() if kind != but else ""
            if held:
                self._emit_delta(kind, held)

    # -- writing ---------------------------------------------------------------------------

    def _usage_values(self) -> dict[str, Any]:
        return {
            "input_tokens": self.state.input_tokens,
            "output_tokens": self.state.output_tokens,
            "cost_usd": self.state.cost_usd,
        }

    def count_cut_short(self) -> None:
        """Add what the model call under way used to the run's usage: it will not finish.

        Its `usage` event is queued for the ending to write (a cancelled run writes no more
        events, only its usage: see `keep_cancelled_usage`).
        """
        call, self.model_call = self.model_call, None
        if call is None:
            return
        usage = call.usage_so_far()
        if usage.input_tokens or usage.output_tokens:
            self.count_usage(usage)

    def count_usage(self, usage: UsageUpdate) -> float:
        """Add a model call's tokens and cost to the run's, with its `usage` event; the cost."""
        cost = self.entry.cost_usd(usage)
        self.state.input_tokens += usage.input_tokens
        self.state.output_tokens += usage.output_tokens
        self.state.cost_usd += cost
        self.emit_checkpointed(
            Usage(
                input_tokens=usage.input_tokens,
                output_tokens=usage.output_tokens,
                cache_read_tokens=usage.cache_read_tokens,
                cache_write_tokens=usage.cache_write_tokens,
                cost_usd=cost,
            )
        )
        return cost

    async def keep_cancelled_usage(self) -> None:
        """Give a run cancelled under us the usage counted since its last checkpoint.

        The cancel kept the usage of the last checkpoint; this adds what came after (a call cut
        short, a turn whose checkpoint lost the race). It never lowers what is stored, and
        changes nothing unless the run was cancelled.
        """
        values = self._usage_values()
        if values == self._written_usage:
            return
        await asyncio.shield(
            self.services.database.write_statement(
                run_store.keep_cancelled_usage, self.run.id, **values
            )
        )

    async def save(
        self,
        *,
        status: RunStatus | None = None,
        new_tool_calls: Sequence[PendingCall] = (),
    ) -> None:
        """Write queued events and the checkpoint (and a status change) atomically."""
        usage = self._usage_values()
        values = dict(usage)
        if status is not None:
            values["status"] = status.value
        await self.events.commit(
            values=values, checkpoint=self._checkpoint, new_tool_calls=new_tool_calls
        )
        self._written_usage = usage
        if status is not None:
            self.status = status

    async def park(
        self,
        approvals: Sequence[dict[str, Any]],
        wake_at: datetime | None,
        *,
        paused: bool = True,
        requeue: bool = False,
    ) -> None:
        """Save the checkpoint and let go of the run, which waits with no worker.

        It is queued again when its approvals are all decided and the subagents it awaits have
        ended, or claimed at `wake_at`. `paused`: the wait does not count against its timeout.
        `requeue`: if it waits for nothing by the time it is saved, it is queued at once.
        """
        values = {**self._usage_values(), "status": RunStatus.WAITING.value}
        values |= {"lease_owner": None, "lease_expires_at": wake_at}
        if paused:
            self.state.parked_at = format_time(self.clock())
        await self.events.commit(
            values=values, checkpoint=self._checkpoint, new_approvals=approvals, requeue=requeue
        )
        self.status, self.ended = RunStatus.WAITING, True

    def log_end(self, status: RunStatus) -> None:
        """The run's end in the process's log: a line on a terminal."""
        started = self.run.started_at or self.run.created_at
        log_run_end(self.run.id, status.value, started, self.clock(), self._usage_values())

    def _checkpoint(self, seq: int) -> dict[str, Any]:
        self.state.seq = seq
        return self.state.to_json()

    async def finish(
        self,
        status: RunStatus,
        *,
        output: str | None = None,
        error: Failure | None = None,
    ) -> None:
        """End the run: queued events, the terminal event and the final state at once."""
        ending = run_rules.end(self.status, status, now=self.clock(), output=output, error=error)
        session_messages: Sequence[Message] = ()
        if status is RunStatus.COMPLETED and self.run.session_id is not None:
            session_messages = self.state.messages[self.state.history :]
        outputs = await keep_within_limit(self.services, self.run, await self.tooling.outputs())
        await self.events.commit(
            values={**ending.values, **self._usage_values()},
            terminal=ending.event,
            session_messages=session_messages,
            outputs=outputs,
            wake=self.run.parent_run_id,
        )
        self.ended = True
        self.status = status
        metrics.RUNS_ENDED.labels(status.value).inc()
        self.log_end(status)
        if self.spawned:
            await self.lineage.end_descendants(
                self.run.id, f"the run {self.run.id} above it ended {status.value}"
            )

    async def close(self) -> None:
        """Let a pending flush end and stop the run's tools (the run's task is ending)."""
        await self.events.close()
        await self.tooling.close()
