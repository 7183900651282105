"""Reading and following event logs: replay from a cursor, then tail live events.

A reconnect is the same code path as a first connect: read everything after the cursor from the
log, then wait for a wake-up and read again.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from corral.context import ServiceContext
from corral.errors import NotFound
from corral.pubsub.base import run_channel, session_channel
from corral.services import auth
from corral.services.context import Principal
from corral.storage import events as event_log
from corral.storage import runs as run_store
from corral.storage import sessions as session_store
from corral.storage.database import Connection
from corral.storage.events import SessionEvent, StoredEvent
from corral.types.events import TERMINAL_EVENT_TYPES
from corral.types.runs import TERMINAL_STATUSES

HEARTBEAT = None
"""Yielded by the followers when nothing happened for `sse_heartbeat_s`."""

STREAM_PAGE = 500
"""Events read and sent at once when a stream catches up."""


async def page(
    ctx: ServiceContext, principal: Principal, run_id: str, *, after: int, limit: int
) -> tuple[list[StoredEvent], bool]:
    """Events after `after`, and whether more follow."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")
    if await ctx.database.read(run_store.get_status_in, principal.workspace_id, run_id) is None:
        raise NotFound(f"no run {run_id!r}")
    events = await ctx.database.read(event_log.read, run_id, after=after, limit=limit + 1)
    return events[:limit], len(events) > limit


async def follow_run(
    ctx: ServiceContext, principal: Principal, run_id: str, *, after: int
) -> AsyncIterator[list[StoredEvent] | None]:
    """Batches of every event after `after`, live, through the terminal one.

    None marks a heartbeat.
    """
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")
    if await ctx.database.read(run_store.get_status_in, principal.workspace_id, run_id) is None:
        raise NotFound(f"no run {run_id!r}")
    return follow_events(ctx, run_id, after)


async def follow_events(
    ctx: ServiceContext, run_id: str, after: int
) -> AsyncIterator[list[StoredEvent] | None]:
    """`follow_run` once the caller may read the run."""
    loop = asyncio.get_running_loop()
    heartbeat_s = ctx.settings.sse_heartbeat_s
    with ctx.broker.subscribe(run_channel(run_id)) as subscription:
        quiet_since = loop.time()
        status_checked = ended = False
        while True:
            batch = ctx.recent.after(run_id, after, STREAM_PAGE) or await ctx.database.read(
                event_log.read, run_id, after=after, limit=STREAM_PAGE
            )
            if batch:
                terminal = next(
                    (i for i, e in enumerate(batch) if e.type in TERMINAL_EVENT_TYPES), None
                )
                yield batch if terminal is None else batch[: terminal + 1]
                if terminal is not None:
                    return
                after = batch[-1].seq
                quiet_since = loop.time()
                # Let other requests run between pages of a long replay.
                await asyncio.sleep(0)
                if len(batch) == STREAM_PAGE:
                    continue
            elif ended:
                return  # the cursor is past the terminal event: the client has it already
            elif not status_checked or loop.time() - quiet_since >= heartbeat_s:
                status_checked = True
                status = await ctx.database.read(run_store.get_status, run_id)
                if status is None:
                    return  # the run was deleted
                if status in TERMINAL_STATUSES:
                    ended = True  # its events are stored: one more read finds what is left
                    continue
                if loop.time() - quiet_since >= heartbeat_s:
                    yield HEARTBEAT
                    quiet_since = loop.time()
            wait_s = min(ctx.settings.resync_s, heartbeat_s - (loop.time() - quiet_since))
            await subscription.wait(max(wait_s, 0.0))


async def follow_session(
    ctx: ServiceContext, principal: Principal, session_id: str, *, after: int
) -> AsyncIterator[list[SessionEvent] | None]:
    """Batches of every event of every run of the session after the session cursor `after`.

    Live; None marks a heartbeat. Ends once the session has ended and its last run's events
    were sent.
    """
    if await ctx.database.read(session_store.get, principal.workspace_id, session_id) is None:
        raise NotFound(f"no session {session_id!r}")
    return _follow_session(ctx, principal.workspace_id, session_id, after)


def _session_over(conn: Connection, workspace_id: str, session_id: str) -> bool:
    row = session_store.get(conn, workspace_id, session_id)
    if row is None:
        return True
    return row["ended_at"] is not None and not session_store.is_busy(conn, session_id)


async def _follow_session(
    ctx: ServiceContext, workspace_id: str, session_id: str, after: int
) -> AsyncIterator[list[SessionEvent] | None]:
    loop = asyncio.get_running_loop()
    heartbeat_s = ctx.settings.sse_heartbeat_s
    with ctx.broker.subscribe(session_channel(session_id)) as subscription:
        quiet_since = loop.time()
        while True:
            over = await ctx.database.read(_session_over, workspace_id, session_id)
            batch = await ctx.database.read(
                event_log.read_session, session_id, after=after, limit=STREAM_PAGE
            )
            if batch:
                yield batch
                after = batch[-1].session_seq
                quiet_since = loop.time()
                await asyncio.sleep(0)
                if len(batch) == STREAM_PAGE:
                    continue
            if over:
                return
            if not batch and loop.time() - quiet_since >= heartbeat_s:
                yield HEARTBEAT
                quiet_since = loop.time()
            wait_s = min(ctx.settings.resync_s, heartbeat_s - (loop.time() - quiet_since))
            await subscription.wait(max(wait_s, 0.0))


async def session_page(
    ctx: ServiceContext, principal: Principal, session_id: str, *, after: int, limit: int
) -> list[SessionEvent]:
    """The session's events after the session cursor `after`, in order."""
    auth.require_session_scope(principal, session_id, "sessions:read")
    if await ctx.database.read(session_store.get, principal.workspace_id, session_id) is None:
        raise NotFound(f"no session {session_id!r}")
    return await ctx.database.read(event_log.read_session, session_id, after=after, limit=limit)


async def session_page_of_type(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    event_type: str,
    *,
    after: int,
    limit: int,
) -> list[SessionEvent]:
    """The session's events of one type after the session cursor `after`, in order."""
    auth.require_session_scope(principal, session_id, "sessions:read")
    if await ctx.database.read(session_store.get, principal.workspace_id, session_id) is None:
        raise NotFound(f"no session {session_id!r}")
    return await ctx.database.read(
        event_log.read_session_type, session_id, event_type, after=after, limit=limit
    )


async def run_start(ctx: ServiceContext, session_id: str, cursor: int) -> int:
    """The cursor just before the first event of the run that logged the event at `cursor`.

    Where no event is at `cursor`, the run of the newest one before it. A reader that must know
    what a run did before a point (a facade translating its log) starts there. A cursor before
    every event gives itself.
    """
    first = await ctx.database.read(event_log.run_start_cursor, session_id, cursor)
    return cursor if first is None else first - 1


async def live_start(
    ctx: ServiceContext, principal: Principal, session_id: str
) -> tuple[int, str | None]:
    """Where a new reader of the session's live events starts, and the run in flight.

    With a run in flight that has logged events, before its first one (the reader sees the
    whole turn); otherwise at the end of the log.
    """

    def read(conn: Connection) -> tuple[int, str | None]:
        # The end of the log first: on PostgreSQL each statement sees the newest commits, and a
        # run that logs its first event between the two reads must not start after it.
        row = session_store.get(conn, principal.workspace_id, session_id)
        if row is None:
            raise NotFound(f"no session {session_id!r}")
        run_id, first = event_log.active_run_start(conn, session_id)
        if first is not None:
            return first - 1, run_id
        return int(row["last_seq"]), run_id

    return await ctx.database.read(read)
