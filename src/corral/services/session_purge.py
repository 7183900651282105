"""Purging a session: erasing its conversation, its runs and all that points at them.

A purge is for data that must go, so it takes everything or nothing, in one transaction. What
the runs spent stays counted by the spend caps (a purge must not free spend), and the audit log
keeps that the purge happened, with counts and no content. A session with a run still going is
refused: ending it first (which cancels that run) is a separate, visible step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from corral.context import ServiceContext
from corral.errors import NotFound, RunActive
from corral.pubsub.base import ENDED, WORKSPACES_CHANNEL, session_channel
from corral.services import audit
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import runs as run_store
from corral.storage import session_purge as purge_store
from corral.storage import sessions as session_store
from corral.storage.database import Connection

__all__ = ["Purged", "purge"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Purged:
    """How much a purge erased."""

    runs: int
    """The session's runs and the subagents below them."""
    messages: int
    """Messages of the session's conversation."""


def _refuse_going(conn: Connection, session_id: str) -> None:
    """Refuse (`run_active`) while a run of the session is queued, running or waiting."""
    going = run_store.lock_active_in_session(conn, session_id)
    if going:
        run_id, status = going[0]
        raise RunActive(
            f"session {session_id} has a run still going ({run_id} is {status}); end the "
            f"session first (DELETE /v1/sessions/{session_id} without purge), then purge it",
            run_id=run_id,
        )


def _purge_tx(
    conn: Connection, workspace_id: str, session_id: str, actor: Actor, now: datetime
) -> Purged | None:
    if session_store.get(conn, workspace_id, session_id) is None:
        return None
    _refuse_going(conn, session_id)
    # Ending it takes the session's row (an ended one takes no messages already): no message is
    # queued into it from here on, and one that reserved its place before is seen below.
    session_store.end(conn, session_id, now)
    _refuse_going(conn, session_id)
    tree = purge_store.tree(conn, session_id)
    for run in tree:
        if not run.is_terminal:
            raise RunActive(
                f"the subagent run {run.id} of session {session_id} is {run.status}; "
                "cancel it first, then purge the session",
                run_id=run.id,
            )
    purge_store.forget_references(conn, workspace_id, session_id)
    for run in tree:  # deepest first: a subagent before its parent, as they lock each other
        if not run_store.delete_ended(conn, workspace_id, run.id):
            raise RunActive(f"run {run.id} of session {session_id} has not ended")
    purged = Purged(runs=len(tree), messages=purge_store.delete_session(conn, session_id))
    audit.record(
        conn,
        actor,
        "session.purged",
        workspace_id=workspace_id,
        target_id=session_id,
        now=now,
        details={"runs": purged.runs, "messages": purged.messages},
    )
    return purged


async def purge(
    ctx: ServiceContext, principal: Principal, session_id: str, *, actor: Actor
) -> Purged:
    """Erase the session, its runs with their subagents and events, and what refers to them.

    Raises:
        NotFound: no such session in the workspace.
        RunActive: a run of the session, or a subagent below one, has not ended.
    """
    purged = await ctx.database.write(
        _purge_tx, principal.workspace_id, session_id, actor, ctx.clock()
    )
    if purged is None:
        raise NotFound(f"no session {session_id!r}")
    # Streams of the session end on finding it gone; a worker keeping its environment warm
    # lets it go, so the workspace's files are removed by the next sweep of old workspaces.
    await ctx.broker.publish(session_channel(session_id), ENDED)
    await ctx.broker.publish(WORKSPACES_CHANNEL, session_id)
    logger.info(
        "session purged",
        extra={
            "action": "session.purged",
            "session_id": session_id,
            "workspace_id": principal.workspace_id,
            "runs": purged.runs,
        },
    )
    return purged
