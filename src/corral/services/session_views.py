"""A stored session as the API shows it: its status, its conversation, why it is stopped.

Kept apart from `sessions` so that the modules that change a session (ending, archiving) can
answer with it without importing the module that opens sessions and sends their messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.context import ServiceContext
from corral.domain.run_spec import parse_run_spec
from corral.errors import NotFound
from corral.services.context import Principal
from corral.storage import sessions as session_store
from corral.storage import usage as usage_store
from corral.storage.database import Connection
from corral.types.sessions import Session, SessionStatus, SessionSummary

__all__ = ["find", "get", "summaries", "view"]


def _status(row: Any, busy: bool) -> SessionStatus:
    if row["ended_at"] is not None:
        return SessionStatus.ENDED
    return SessionStatus.RUNNING if busy else SessionStatus.IDLE


def _summary_fields(row: Any, busy: bool) -> dict[str, Any]:
    return {
        "id": row["id"],
        "status": _status(row, busy),
        "agent": row["agent_id"],
        "agent_version": row["agent_version"],
        "model": parse_run_spec(row["spec"]).model,
        "metadata": row["metadata"],
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
        "max_spend_usd": row["max_spend_usd"],
        "title": row["title"],
        "environment_id": row["environment_id"],
        "archived_at": row["archived_at"],
    }


def _stop_reason(row: Any, spent_usd: float | None) -> dict[str, Any] | None:
    """Why the session takes no messages for now: it has spent its cap."""
    cap = row["max_spend_usd"]
    if row["ended_at"] is not None or cap is None or spent_usd is None or spent_usd < cap:
        return None
    return {"type": "budget_exceeded", "spent_usd": round(spent_usd, 9), "max_spend_usd": cap}


async def find(ctx: ServiceContext, principal: Principal, session_id: str) -> Any:
    """The session's stored row, or `NotFound` (also for another workspace's session)."""
    row = await ctx.database.read(session_store.get, principal.workspace_id, session_id)
    if row is None:
        raise NotFound(f"no session {session_id!r}")
    return row


async def get(ctx: ServiceContext, principal: Principal, session_id: str) -> Session:
    """The session and its conversation."""
    return await view(ctx, await find(ctx, principal, session_id))


async def view(ctx: ServiceContext, row: Any) -> Session:
    """A found session's row as the wire session, with its conversation."""
    session_id = row["id"]

    def read(conn: Connection) -> tuple[bool, list[dict[str, Any]], float | None]:
        spent = None
        if row["max_spend_usd"] is not None:
            spent = usage_store.spent(conn, row["workspace_id"], session_id=session_id)
        busy = session_store.is_busy(conn, session_id)
        return busy, session_store.messages(conn, session_id), spent

    busy, messages, spent = await ctx.database.read(read)
    return Session.model_validate(
        {
            **_summary_fields(row, busy),
            "messages": messages,
            "stop_reason": _stop_reason(row, spent),
        }
    )


def summaries(rows: Sequence[Any], busy: set[str]) -> list[SessionSummary]:
    """Listed sessions' rows as the wire summaries; `busy` are the ids with a run going."""
    return [SessionSummary.model_validate(_summary_fields(row, row["id"] in busy)) for row in rows]
