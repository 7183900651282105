"""Routines and their triggers: storing, reading, changing, pausing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables_routines import routine_triggers, routines
from corral.types.routines import RoutineStatus

__all__ = [
    "RoutineRecord",
    "TriggerRecord",
    "by_token",
    "fired",
    "get",
    "get_by_id",
    "insert",
    "listed",
    "pause",
    "remove",
    "resume",
    "triggers_of",
    "update",
]

_R = routines
_T = routine_triggers


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    """A stored trigger: its `config` is the wire's fields for its type."""

    id: str
    routine_id: str
    workspace_id: str
    type: str
    config: dict[str, Any]
    token_hash: str | None
    token: str | None
    next_fire_at: datetime | None


@dataclass(frozen=True, slots=True)
class RoutineRecord:
    """A stored routine with its triggers."""

    id: str
    workspace_id: str
    name: str
    description: str
    agent_id: str
    agent_version: int | None
    input: str
    session_mode: str
    session_id: str | None
    environment_id: str | None
    metadata: dict[str, str]
    catch_up: str
    overlap: str
    status: str
    paused_code: str | None
    paused_message: str | None
    paused_at: datetime | None
    key_id: str
    last_fired_at: datetime | None
    created_at: datetime
    updated_at: datetime
    triggers: tuple[TriggerRecord, ...] = ()


_ROUTINE_COLUMNS = [c for c in _R.c if c.name not in ("lease_owner", "lease_until")]


def _trigger(row: Any) -> TriggerRecord:
    return TriggerRecord(**{c.name: row._mapping[c.name] for c in _T.c})


def _routine(row: Any, triggers: list[TriggerRecord]) -> RoutineRecord:
    fields = {c.name: row._mapping[c.name] for c in _ROUTINE_COLUMNS}
    return RoutineRecord(**fields, triggers=tuple(triggers))


def triggers_of(conn: sa.Connection, routine_ids: list[str]) -> dict[str, list[TriggerRecord]]:
    """The triggers of each routine, in the order they were given."""
    found: dict[str, list[TriggerRecord]] = {routine_id: [] for routine_id in routine_ids}
    if routine_ids:
        rows = conn.execute(sa.select(_T).where(_T.c.routine_id.in_(routine_ids)).order_by(_T.c.id))
        for row in rows:
            found[row.routine_id].append(_trigger(row))
    return found


def insert(conn: sa.Connection, values: dict[str, Any], triggers: list[dict[str, Any]]) -> None:
    """Store a new routine and its triggers; a taken name is a `Conflict`."""
    conn.execute(_R.insert().values(values))
    if triggers:
        conn.execute(_T.insert(), triggers)


def get(conn: sa.Connection, workspace_id: str, ref: str) -> RoutineRecord | None:
    """The workspace's routine with this id or name."""
    row = conn.execute(
        sa.select(*_ROUTINE_COLUMNS).where(
            _R.c.workspace_id == workspace_id, sa.or_(_R.c.id == ref, _R.c.name == ref)
        )
    ).first()
    if row is None:
        return None
    return _routine(row, triggers_of(conn, [row.id])[row.id])


def get_by_id(conn: sa.Connection, routine_id: str) -> RoutineRecord | None:
    """The routine with this id, whatever its workspace (for the scheduler)."""
    row = conn.execute(sa.select(*_ROUTINE_COLUMNS).where(_R.c.id == routine_id)).first()
    if row is None:
        return None
    return _routine(row, triggers_of(conn, [row.id])[row.id])


def fired(conn: sa.Connection, routine_id: str, now: datetime) -> None:
    """Note when the routine last started a run."""
    conn.execute(_R.update().where(_R.c.id == routine_id).values(last_fired_at=now))


def listed(
    conn: sa.Connection, workspace_id: str, *, limit: int, before_id: str | None
) -> list[RoutineRecord]:
    """The workspace's routines, newest first."""
    query = sa.select(*_ROUTINE_COLUMNS).where(_R.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(_R.c.id < before_id)
    rows = conn.execute(query.order_by(_R.c.id.desc()).limit(limit)).all()
    triggers = triggers_of(conn, [row.id for row in rows])
    return [_routine(row, triggers[row.id]) for row in rows]


def update(
    conn: sa.Connection,
    routine_id: str,
    values: dict[str, Any],
    triggers: list[dict[str, Any]] | None,
) -> None:
    """Change a routine; `triggers`, when given, is its whole new list (kept ones by id)."""
    conn.execute(_R.update().where(_R.c.id == routine_id).values(values))
    if triggers is None:
        return
    kept = [trigger["id"] for trigger in triggers]
    conn.execute(_T.delete().where(_T.c.routine_id == routine_id, _T.c.id.not_in(kept)))
    existing = {
        row.id for row in conn.execute(sa.select(_T.c.id).where(_T.c.routine_id == routine_id))
    }
    for trigger in triggers:
        if trigger["id"] in existing:
            changes = {k: v for k, v in trigger.items() if k not in ("id", "token", "token_hash")}
            conn.execute(_T.update().where(_T.c.id == trigger["id"]).values(changes))
        else:
            conn.execute(_T.insert().values(trigger))


def remove(conn: sa.Connection, workspace_id: str, routine_id: str) -> bool:
    """Delete a routine, its triggers and its history."""
    deleted = conn.execute(
        _R.delete().where(_R.c.workspace_id == workspace_id, _R.c.id == routine_id)
    )
    return bool(deleted.rowcount)


def pause(
    conn: sa.Connection,
    routine_id: str,
    *,
    code: str,
    message: str,
    now: datetime,
    replace_reason: bool = False,
) -> bool:
    """Pause an active routine with the reason; False if it was not active.

    With `replace_reason`, a paused routine takes the new reason too (and True is returned).
    """
    query = _R.update().where(_R.c.id == routine_id)
    if not replace_reason:
        query = query.where(_R.c.status == RoutineStatus.ACTIVE)
    changed = conn.execute(
        query.values(
            status=RoutineStatus.PAUSED,
            paused_code=code,
            paused_message=message[:1000],
            paused_at=now,
            updated_at=now,
        )
    )
    return bool(changed.rowcount)


def resume(
    conn: sa.Connection, routine_id: str, next_fires: dict[str, datetime], now: datetime
) -> None:
    """Make a routine active; each schedule goes on from its next time after now."""
    conn.execute(
        _R.update()
        .where(_R.c.id == routine_id)
        .values(
            status=RoutineStatus.ACTIVE,
            paused_code=None,
            paused_message=None,
            paused_at=None,
            updated_at=now,
        )
    )
    for trigger_id, next_fire_at in next_fires.items():
        conn.execute(_T.update().where(_T.c.id == trigger_id).values(next_fire_at=next_fire_at))


def by_token(conn: sa.Connection, token_hash: str) -> tuple[TriggerRecord, str] | None:
    """The webhook trigger with this token, and its routine's status."""
    row = conn.execute(
        sa.select(_T, _R.c.status.label("routine_status"))
        .join(_R, _R.c.id == _T.c.routine_id)
        .where(_T.c.token_hash == token_hash)
    ).first()
    if row is None:
        return None
    return _trigger(row), row.routine_status
