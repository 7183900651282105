"""Fires: recording that a routine went off, handing them out in order, and their history.

Schedules are moved on by compare-and-set (only the scheduler that moves a time on fires it)
and their fires are unique per scheduled time, so two schedulers never both fire one time. A
routine's fires are handled by one scheduler at a time, which leases the routine.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from corral.storage.tables import runs
from corral.storage.tables_routines import routine_dedupe, routine_fires, routine_triggers, routines
from corral.types.routines import FireStatus, RoutineStatus, TriggerType
from corral.types.runs import ACTIVE_STATUSES

__all__ = [
    "DueSchedule",
    "FireQuery",
    "FireRecord",
    "active_runs",
    "advance",
    "claim_dedupe",
    "due_schedules",
    "fire_by_key",
    "get_fire",
    "history",
    "insert_fire",
    "lease",
    "listed",
    "next_due",
    "open_fires",
    "prune_dedupe",
    "prune_history",
    "release",
    "update_fire",
    "with_work",
]

_F = routine_fires
_R = routines
_T = routine_triggers
_OPEN = (FireStatus.PENDING, FireStatus.QUEUED)
_RECENT_STARTED = 20
"""Started fires looked at for a run still going (a policy other than `allow` keeps at most a
few going)."""


@dataclass(frozen=True, slots=True)
class FireRecord:
    """A stored fire."""

    id: str
    routine_id: str
    workspace_id: str
    trigger_type: str
    trigger_id: str | None
    status: str
    reason: str | None
    error_code: str | None
    error_message: str | None
    scheduled_at: datetime | None
    missed: int
    idempotency_key: str | None
    payload: Any
    headers: dict[str, str] | None
    run_id: str | None
    session_id: str | None
    created_at: datetime
    handled_at: datetime | None


@dataclass(frozen=True, slots=True)
class DueSchedule:
    """A schedule whose time has come, with what deciding its fires needs."""

    trigger_id: str
    routine_id: str
    workspace_id: str
    config: dict[str, Any]
    next_fire_at: datetime
    catch_up: str


@dataclass(frozen=True, slots=True, kw_only=True)
class FireQuery:
    """Which of a workspace's fires a list wants; a field left None does not narrow it."""

    routine_id: str | None = None
    statuses: tuple[str, ...] | None = None
    trigger_types: tuple[str, ...] | None = None
    created_after: datetime | None = None
    """Strictly after this time."""
    created_from: datetime | None = None
    """At this time or after."""
    created_before: datetime | None = None
    """Strictly before this time."""
    created_until: datetime | None = None
    """At this time or before."""


def _fire(row: Any) -> FireRecord:
    return FireRecord(**{c.name: row._mapping[c.name] for c in _F.c})


def due_schedules(conn: sa.Connection, now: datetime, *, limit: int) -> list[DueSchedule]:
    """Schedules of active routines whose next time has come."""
    rows = conn.execute(
        sa.select(
            _T.c.id,
            _T.c.routine_id,
            _T.c.workspace_id,
            _T.c.config,
            _T.c.next_fire_at,
            _R.c.catch_up,
        )
        .join(_R, _R.c.id == _T.c.routine_id)
        .where(
            _T.c.type == TriggerType.SCHEDULE,
            _T.c.next_fire_at <= now,
            _R.c.status == RoutineStatus.ACTIVE,
        )
        .order_by(_T.c.next_fire_at)
        .limit(limit)
    )
    return [DueSchedule(*row) for row in rows]


def next_due(conn: sa.Connection) -> datetime | None:
    """The soonest next time of any active routine's schedule."""
    found: datetime | None = conn.execute(
        sa.select(sa.func.min(_T.c.next_fire_at))
        .join(_R, _R.c.id == _T.c.routine_id)
        .where(_T.c.type == TriggerType.SCHEDULE, _R.c.status == RoutineStatus.ACTIVE)
    ).scalar()
    return found


def advance(conn: sa.Connection, trigger_id: str, expected: datetime, to: datetime) -> bool:
    """Move a schedule on from `expected` to `to`; False if another scheduler already did."""
    moved = conn.execute(
        _T.update()
        .where(_T.c.id == trigger_id, _T.c.next_fire_at == expected)
        .values(next_fire_at=to)
    )
    return bool(moved.rowcount)


def insert_fire(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Record a fire; a second fire of one scheduled time or idempotency key is a `Conflict`."""
    conn.execute(_F.insert().values(values))


def with_work(conn: sa.Connection, now: datetime, *, limit: int) -> list[str]:
    """Routines with fires to handle that no scheduler holds."""
    rows = conn.execute(
        sa.select(_F.c.routine_id)
        .distinct()
        .join(_R, _R.c.id == _F.c.routine_id)
        .where(
            _F.c.status.in_(_OPEN),
            sa.or_(_R.c.lease_until.is_(None), _R.c.lease_until < now),
        )
        .limit(limit)
    )
    return [row.routine_id for row in rows]


def lease(conn: sa.Connection, routine_id: str, owner: str, now: datetime, lease_s: float) -> bool:
    """Hold the routine's fires for `owner`; False if another scheduler holds them."""
    held = conn.execute(
        _R.update()
        .where(
            _R.c.id == routine_id,
            sa.or_(_R.c.lease_until.is_(None), _R.c.lease_until < now, _R.c.lease_owner == owner),
        )
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_s))
    )
    return bool(held.rowcount)


def release(conn: sa.Connection, routine_id: str, owner: str) -> None:
    """Let the routine's fires go."""
    conn.execute(
        _R.update()
        .where(_R.c.id == routine_id, _R.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
    )


def open_fires(conn: sa.Connection, routine_id: str, *, limit: int) -> list[FireRecord]:
    """The routine's fires still to handle, oldest first."""
    rows = conn.execute(
        sa.select(_F)
        .where(_F.c.routine_id == routine_id, _F.c.status.in_(_OPEN))
        .order_by(_F.c.id)
        .limit(limit)
    )
    return [_fire(row) for row in rows]


def active_runs(conn: sa.Connection, routine_id: str) -> int:
    """How many runs the routine's recent fires started are still going."""
    recent = (
        sa.select(_F.c.run_id)
        .where(_F.c.routine_id == routine_id, _F.c.status == FireStatus.STARTED)
        .order_by(_F.c.id.desc())
        .limit(_RECENT_STARTED)
        .subquery()
    )
    count: int = conn.execute(
        sa.select(sa.func.count())
        .select_from(runs)
        .where(runs.c.id.in_(sa.select(recent.c.run_id)), runs.c.status.in_(ACTIVE_STATUSES))
    ).scalar_one()
    return count


def update_fire(conn: sa.Connection, fire_id: str, values: dict[str, Any]) -> None:
    """Record what became of a fire."""
    conn.execute(_F.update().where(_F.c.id == fire_id).values(values))


def fire_by_key(conn: sa.Connection, routine_id: str, key: str) -> FireRecord | None:
    """The fire asked for with this idempotency key."""
    row = conn.execute(
        sa.select(_F).where(_F.c.routine_id == routine_id, _F.c.idempotency_key == key)
    ).first()
    return None if row is None else _fire(row)


def get_fire(conn: sa.Connection, workspace_id: str, fire_id: str) -> FireRecord | None:
    """The workspace's fire with this id."""
    row = conn.execute(
        sa.select(_F).where(_F.c.workspace_id == workspace_id, _F.c.id == fire_id)
    ).first()
    return None if row is None else _fire(row)


def history(
    conn: sa.Connection,
    routine_id: str,
    *,
    limit: int,
    before_id: str | None,
    status: str | None,
) -> list[FireRecord]:
    """The routine's fires, newest first."""
    query = sa.select(_F).where(_F.c.routine_id == routine_id)
    if before_id is not None:
        query = query.where(_F.c.id < before_id)
    if status is not None:
        query = query.where(_F.c.status == status)
    return [_fire(row) for row in conn.execute(query.order_by(_F.c.id.desc()).limit(limit))]


def listed(
    conn: sa.Connection,
    workspace_id: str,
    query: FireQuery,
    *,
    limit: int,
    before_id: str | None,
) -> list[FireRecord]:
    """The workspace's fires that `query` wants, newest first."""
    wanted = [_F.c.workspace_id == workspace_id]
    if query.routine_id is not None:
        wanted.append(_F.c.routine_id == query.routine_id)
    if query.statuses is not None:
        wanted.append(_F.c.status.in_(query.statuses))
    if query.trigger_types is not None:
        wanted.append(_F.c.trigger_type.in_(query.trigger_types))
    for bound, compare in (
        (query.created_after, operator.gt),
        (query.created_from, operator.ge),
        (query.created_before, operator.lt),
        (query.created_until, operator.le),
    ):
        if bound is not None:
            wanted.append(compare(_F.c.created_at, bound))
    if before_id is not None:
        wanted.append(_F.c.id < before_id)
    rows = conn.execute(sa.select(_F).where(*wanted).order_by(_F.c.id.desc()).limit(limit))
    return [_fire(row) for row in rows]


def claim_dedupe(
    conn: sa.Connection, trigger_id: str, key_hash: str, fire_id: str, now: datetime, window_s: int
) -> bool:
    """Claim a dedupe key for `fire_id` for its window; False if another fire holds it."""
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    values = insert(routine_dedupe).values(
        trigger_id=trigger_id,
        key_hash=key_hash,
        fire_id=fire_id,
        expires_at=now + timedelta(seconds=window_s),
    )
    statement = values.on_conflict_do_update(
        index_elements=[routine_dedupe.c.trigger_id, routine_dedupe.c.key_hash],
        set_={"expires_at": values.excluded.expires_at, "fire_id": values.excluded.fire_id},
        where=routine_dedupe.c.expires_at <= now,
    ).returning(routine_dedupe.c.key_hash)
    if conn.execute(statement).first() is not None:
        return True
    holder = conn.execute(
        sa.select(routine_dedupe.c.fire_id).where(
            routine_dedupe.c.trigger_id == trigger_id, routine_dedupe.c.key_hash == key_hash
        )
    ).scalar()
    return bool(holder == fire_id)


def prune_history(conn: sa.Connection, before_id: str, *, limit: int) -> int:
    """Delete up to `limit` handled fires older than `before_id` (ids grow with time)."""
    old = (
        sa.select(_F.c.id)
        .where(_F.c.id < before_id, _F.c.status.not_in(_OPEN))
        .limit(limit)
        .scalar_subquery()
    )
    return int(conn.execute(_F.delete().where(_F.c.id.in_(old))).rowcount)


def prune_dedupe(conn: sa.Connection, now: datetime) -> int:
    """Forget dedupe keys whose window has passed."""
    gone = conn.execute(routine_dedupe.delete().where(routine_dedupe.c.expires_at <= now))
    return int(gone.rowcount)
