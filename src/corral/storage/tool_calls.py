"""Client tool calls: the durable rendezvous between a waiting run and the caller's result."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import tool_calls


def insert_pending(
    conn: sa.Connection, run_id: str, calls: Sequence[dict[str, Any]], now: datetime
) -> None:
    """Record calls awaiting a result; each has `call_id`, `name`, `input` and `deadline_at`."""
    if not calls:
        return
    conn.execute(
        tool_calls.insert(),
        [
            {
                "run_id": run_id,
                "call_id": call["call_id"],
                "name": call["name"],
                "input": call["input"],
                "status": "pending",
                "created_at": now,
                "deadline_at": call["deadline_at"],
            }
            for call in calls
        ],
    )


def answer(
    conn: sa.Connection,
    run_id: str,
    call_id: str,
    *,
    output: str | None,
    error: str | None,
    now: datetime,
) -> bool:
    """Store the caller's result; False when the call is unknown or was already answered."""
    result = conn.execute(
        tool_calls.update()
        .where(
            tool_calls.c.run_id == run_id,
            tool_calls.c.call_id == call_id,
            tool_calls.c.status == "pending",
        )
        .values(status="answered", output=output, error=error, answered_at=now)
    )
    return result.rowcount == 1


def answered(conn: sa.Connection, run_id: str, call_ids: Sequence[str]) -> list[dict[str, Any]]:
    """Results the caller has posted for any of `call_ids`."""
    rows = conn.execute(
        sa.select(tool_calls.c.call_id, tool_calls.c.output, tool_calls.c.error).where(
            tool_calls.c.run_id == run_id,
            tool_calls.c.call_id.in_(call_ids),
            tool_calls.c.status == "answered",
        )
    ).mappings()
    return [dict(row) for row in rows]
