"""Builds the context of a claimed run: a fresh start or a resumption from its checkpoint."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from corral.domain.conversation import input_messages
from corral.providers.registry import ModelRegistry
from corral.pubsub.base import Broker
from corral.runtime.context import Journal, RunContext, RunState
from corral.storage import events as event_log
from corral.storage import sessions as session_store
from corral.storage.database import Database
from corral.storage.runs import RunRecord

_JOURNAL_LIMIT = 1_000_000


async def prepare(
    run: RunRecord,
    *,
    worker_id: str,
    database: Database,
    broker: Broker,
    models: ModelRegistry,
    clock: Callable[[], datetime],
    client_tool_timeout_s: float,
    resync_s: float,
) -> RunContext:
    """The context to execute `run` with, picking up where a previous attempt stopped."""
    if run.checkpoint is not None:
        state = RunState.from_json(run.checkpoint)
    else:
        history: list[dict[str, object]] = []
        if run.session_id is not None:
            history = await database.read(session_store.messages, run.session_id)
        state = RunState(messages=[*history, *input_messages(run.input)], history=len(history))
    journal = Journal()
    if run.last_seq > state.seq:
        journal = Journal.from_events(
            await database.read(event_log.read, run.id, after=state.seq, limit=_JOURNAL_LIMIT)
        )
    entry = models.resolve(run.model)
    return RunContext(
        run=run,
        state=state,
        journal=journal,
        worker_id=worker_id,
        database=database,
        broker=broker,
        clock=clock,
        entry=entry,
        provider=models.provider(entry),
        client_tool_timeout_s=client_tool_timeout_s,
        resync_s=resync_s,
    )
