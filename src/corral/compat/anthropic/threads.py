"""Session threads as Corral's subagent runs.

A coordinator's call of an agent of its roster is a Corral child run: the session's log shows
it as `session.thread_created` and the messages sent and received; the thread's own events are
the child run's, translated the same way as a session's.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson

from corral.compat.anthropic.reading import Reader, StreamFilter, translated
from corral.compat.anthropic.translate import agents as agent_translation
from corral.compat.anthropic.translate.numbering import cursor_of
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.threads import ThreadObject, ThreadUsage
from corral.context import ServiceContext
from corral.errors import InvalidRequest, NotFound
from corral.services import events as event_service
from corral.services import runs as run_service
from corral.services import sessions as session_service
from corral.services.context import Principal
from corral.storage.events import StoredEvent
from corral.storage.runs import RunRecord
from corral.types.runs import ACTIVE_STATUSES, RunStatus

_SCAN = 1_000
"""Thread starts read from the session's log at once."""


def _status(record: RunRecord) -> str:
    status = RunStatus(record.status)
    if status in ACTIVE_STATUSES:
        return "running"
    return "idle" if status == RunStatus.COMPLETED else "terminated"


def _agent(record: RunRecord, name: str) -> dict[str, Any]:
    spec = {"model": record.model, **record.spec}
    shown = agent_translation.running_agent_view(spec, name=name, skills=[])
    if record.agent_id is None:
        return {"type": "inline", **shown}
    return {"type": "agent", "id": record.agent_id, "version": record.agent_version or 1, **shown}


def _view(session_id: str, record: RunRecord, name: str) -> ThreadObject:
    return ThreadObject(
        id=record.id,
        session_id=session_id,
        agent=_agent(record, name),
        status=_status(record),
        usage=ThreadUsage(input_tokens=record.input_tokens, output_tokens=record.output_tokens),
        created_at=record.created_at,
        updated_at=record.ended_at or record.started_at or record.created_at,
    )


async def _starts(
    ctx: ServiceContext, principal: Principal, session_id: str
) -> list[dict[str, Any]]:
    """The `subagent.started` events of the session's runs, oldest first."""
    found: list[dict[str, Any]] = []
    after = 0
    while True:
        batch = await event_service.session_page_of_type(
            ctx, principal, session_id, "subagent.started", after=after, limit=_SCAN
        )
        found += [orjson.loads(e.data) for e in batch]
        if len(batch) < _SCAN:
            return found
        after = batch[-1].session_seq


async def _thread(
    ctx: ServiceContext, principal: Principal, session_id: str, thread_id: str
) -> tuple[RunRecord, str]:
    """The thread's run and its agent's name, if it is a thread of the session."""
    await session_service.find(ctx, principal, session_id)
    for start in await _starts(ctx, principal, session_id):
        if start["child_run_id"] == thread_id:
            return await run_service.find(ctx, principal, thread_id), start["name"]
    raise NotFound(f"no thread {thread_id!r} in session {session_id!r}")


async def list_threads(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    *,
    limit: int,
    page: str | None,
    statuses: set[str],
) -> CursorPage[ThreadObject]:
    """The session's threads, oldest first."""
    await session_service.find(ctx, principal, session_id)
    starts = await _starts(ctx, principal, session_id)
    ids = [s["child_run_id"] for s in starts]
    begin = ids.index(page) + 1 if page in ids else 0
    if page is not None and page not in ids:
        raise InvalidRequest(f"page {page!r} is not a cursor this server gave", field="page")
    data: list[ThreadObject] = []
    position = begin
    for start in starts[begin:]:
        position += 1
        record = await run_service.find(ctx, principal, start["child_run_id"])
        shown = _view(session_id, record, start["name"])
        if not statuses or shown.status in statuses:
            data.append(shown)
        if len(data) == limit:
            break
    more = position < len(starts)
    return CursorPage(data=data, next_page=ids[position - 1] if more and data else None)


async def retrieve(
    ctx: ServiceContext, principal: Principal, session_id: str, thread_id: str
) -> ThreadObject:
    """The thread."""
    record, name = await _thread(ctx, principal, session_id, thread_id)
    return _view(session_id, record, name)


async def archive(
    ctx: ServiceContext, principal: Principal, session_id: str, thread_id: str
) -> ThreadObject:
    """Stop the thread: its run is cancelled if it has not ended (a thread is one task)."""
    record, name = await _thread(ctx, principal, session_id, thread_id)
    if RunStatus(record.status) in ACTIVE_STATUSES:
        await run_service.cancel(ctx, principal, thread_id, reason="thread archived")
        record = await run_service.find(ctx, principal, thread_id)
    return _view(session_id, record, name)


def _pairs(batch: list[StoredEvent]) -> list[tuple[int, str]]:
    return [(e.seq, e.data) for e in batch]


async def list_events(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    thread_id: str,
    *,
    limit: int,
    page: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the thread's events, oldest first."""
    record, _ = await _thread(ctx, principal, session_id, thread_id)
    if page is not None and not page.isdigit():
        raise InvalidRequest(f"page {page!r} is not a cursor this server gave", field="page")
    after = int(page or 0)
    reader = Reader(ctx, principal, record.spec)
    # A run's log is read from its start: the translation refers back to earlier events.
    events, _ = await event_service.page(ctx, principal, thread_id, after=0, limit=100_000)
    fed = await reader.feed(_pairs(events), whole=True)
    shown = [(cursor, t.event) for cursor, t in fed if cursor > after and not t.preview]
    chosen = shown[:limit]
    if len(chosen) < len(shown):
        # End the page after the last event of the stored event it stops in.
        last = chosen[-1][0]
        chosen = [item for item in shown if item[0] <= last]
        return [e for _, e in chosen], str(last)
    return [e for _, e in chosen], None


async def follow(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    thread_id: str,
    *,
    previews: set[str],
    last_event_id: str | None,
) -> AsyncIterator[list[dict[str, Any]] | None]:
    """The thread's events from its start (or after `last_event_id`), live, to its end."""
    record, _ = await _thread(ctx, principal, session_id, thread_id)
    resume = cursor_of(last_event_id) if last_event_id else None
    batches = await event_service.follow_run(ctx, principal, thread_id, after=0)
    return translated(
        Reader(ctx, principal, record.spec),
        _run_pairs(batches),
        StreamFilter(previews, resume, last_event_id),
    )


async def _run_pairs(
    batches: AsyncIterator[list[StoredEvent] | None],
) -> AsyncIterator[list[tuple[int, str]] | None]:
    async for batch in batches:
        yield None if batch is None else _pairs(batch)
