"""Ending a session: it takes no more messages, and its queued and active runs are cancelled.

Archiving a session ends it the same way, and marks it archived.
"""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.errors import NotFound
from corral.observability import metrics
from corral.pubsub.notices import publish_stopped
from corral.services import subagents
from corral.services.context import Principal
from corral.services.session_views import get
from corral.storage import events as event_log
from corral.storage import runs as run_store
from corral.storage import sessions as session_store
from corral.storage.database import Connection
from corral.types.runs import RunStatus
from corral.types.sessions import Session

__all__ = ["end"]


def _end_tx(
    conn: Connection, workspace_id: str, session_id: str, now: Any, archive: bool
) -> list[tuple[str, event_log.Committed]] | None:
    if session_store.get(conn, workspace_id, session_id) is None:
        return None
    active = run_store.lock_active_in_session(conn, session_id)
    session_store.end(conn, session_id, now)
    if archive:
        session_store.archive(conn, session_id, now)
    # A message that reserved its position before the end above is committed by now: cancel it too.
    late = run_store.lock_active_in_session(conn, session_id)
    active += [run for run in late if run not in active]
    cancelled = []
    for run_id, status in active:
        ending = run_rules.end(status, RunStatus.CANCELLED, now=now, reason="session ended")
        committed = event_log.commit(
            conn, run_id=run_id, events=[ending.event.entry()], now=now, values=ending.values
        )
        if committed is not None:
            cancelled.append((run_id, committed))
    return cancelled


async def end(
    ctx: ServiceContext, principal: Principal, session_id: str, *, archive: bool = False
) -> Session:
    """End the session and cancel its queued and active runs; `archive` also archives it."""
    cancelled = await ctx.database.write(
        _end_tx, principal.workspace_id, session_id, ctx.clock(), archive
    )
    if cancelled is None:
        raise NotFound(f"no session {session_id!r}")
    for run_id, committed in cancelled:
        metrics.RUNS_ENDED.labels(RunStatus.CANCELLED.value).inc()
        await publish_stopped(ctx.broker, run_id, committed)
        await subagents.end_descendants(ctx, run_id, "its session ended")
    return await get(ctx, principal, session_id)
