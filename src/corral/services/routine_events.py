"""What a routine tells outbound webhooks: a fire started its run, the routine was paused.

These events are in no run's log, so their documents go into the outbox themselves, in the
transaction of the change they report.
"""

from __future__ import annotations

from datetime import datetime

from corral.domain.event_log import format_time
from corral.storage import outbox
from corral.storage import routines as routine_store
from corral.storage.database import Connection
from corral.storage.routine_fires import FireRecord
from corral.storage.routines import RoutineRecord

__all__ = ["fired", "pause"]


def fired(
    conn: Connection,
    record: RoutineRecord,
    fire: FireRecord,
    *,
    run_id: str,
    session_id: str | None,
    now: datetime,
) -> int:
    """Queue `routine.fired` for the fire that started `run_id`; deliveries queued."""
    document = {
        "type": "routine.fired",
        "routine_id": record.id,
        "routine_name": record.name,
        "fire_id": fire.id,
        "trigger": fire.trigger_type,
        "trigger_id": fire.trigger_id,
        "scheduled_at": format_time(fire.scheduled_at) if fire.scheduled_at else None,
        "missed": fire.missed,
        "run_id": run_id,
        "session_id": session_id,
        "created_at": format_time(now),
    }
    return outbox.enqueue_document(
        conn, record.workspace_id, "routine.fired", f"msg_{fire.id}", document, now
    )


def pause(
    conn: Connection,
    routine_id: str,
    *,
    code: str,
    message: str,
    now: datetime,
    replace_reason: bool = False,
) -> int:
    """Pause an active routine and queue `routine.paused`.

    Returns the deliveries queued, or -1 when the routine was not active (nothing changed);
    with `replace_reason`, a paused routine takes the new reason.
    """
    paused = routine_store.pause(
        conn, routine_id, code=code, message=message, now=now, replace_reason=replace_reason
    )
    if not paused:
        return -1
    record = routine_store.get_by_id(conn, routine_id)
    assert record is not None
    document = {
        "type": "routine.paused",
        "routine_id": record.id,
        "routine_name": record.name,
        "code": code,
        "message": message,
        "created_at": format_time(now),
    }
    message_id = f"msg_{routine_id}_paused_{int(now.timestamp() * 1000)}"
    return outbox.enqueue_document(
        conn, record.workspace_id, "routine.paused", message_id, document, now
    )
