"""EventLog: appends a run's events with their `seq` in the same transaction as its state.

`commit` is the single way a run's log and status change. Its first statement bumps
`runs.last_seq` under a guard (the run has not ended, and the caller still holds the lease), which
row-locks the run on PostgreSQL, so `seq` has no gaps or duplicates under concurrent writers and
a worker that lost its lease, or a run that was cancelled meanwhile, writes nothing.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql as pg

from corral.domain.event_log import format_time
from corral.storage import outbox as webhook_outbox
from corral.storage.tables import run_events, runs, sessions
from corral.types.events import TERMINAL_EVENT_TYPES
from corral.types.runs import ACTIVE_STATUSES, TERMINAL_STATUSES

NewEvent = tuple[str, dict[str, Any]]
"""An event to append: its type and its payload (without seq, run_id and created_at)."""


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as stored: its `data` is the complete JSON document sent to clients."""

    seq: int
    type: str
    data: str


@dataclass(frozen=True, slots=True)
class SessionEvent:
    """An event of a session's run, with its session-wide cursor."""

    session_seq: int
    type: str
    data: str


@dataclass(frozen=True, slots=True)
class Lease:
    """The right to write a run: one worker's one claim of it.

    The attempt is part of it because a worker whose event loop stalled past a lease may claim
    the same run again; its older execution, under the same worker id, must then write nothing.
    """

    worker_id: str
    attempt: int


@dataclass(frozen=True, slots=True)
class Committed:
    """What `commit` wrote."""

    last_seq: int
    session_id: str | None
    session_last_seq: int | None
    events: tuple[StoredEvent, ...] = ()
    """The events appended, as stored."""
    requeued: bool = False
    """A parked run went back to the queue in the same transaction (see `progress.save`)."""
    deliveries: int = 0
    """Webhook deliveries put in the outbox with the events."""


_NOT_ENDED = sa.text(
    "runs.status NOT IN (" + ", ".join(f"'{s.value}'" for s in sorted(TERMINAL_STATUSES)) + ")"
)
_BUMP = (
    runs.update()
    .where(runs.c.id == sa.bindparam("b_run_id"), _NOT_ENDED)
    .values(last_seq=runs.c.last_seq + sa.bindparam("b_count", type_=sa.Integer))
    .returning(runs.c.last_seq, runs.c.session_id)
)
_OWNED = sa.and_(
    runs.c.lease_owner == sa.bindparam("b_owner"),
    runs.c.attempts == sa.bindparam("b_attempt", type_=sa.Integer),
)
_BUMP_OWNED = _BUMP.where(_OWNED)
_BUMP_SESSION = (
    sessions.update()
    .where(sessions.c.id == sa.bindparam("b_session_id"))
    .values(last_seq=sessions.c.last_seq + sa.bindparam("b_count", type_=sa.Integer))
    .returning(sessions.c.last_seq)
)
_INSERT = run_events.insert()
_READ = (
    sa.select(run_events.c.seq, run_events.c.type, run_events.c.data)
    .where(
        run_events.c.run_id == sa.bindparam("b_run_id"), run_events.c.seq > sa.bindparam("b_after")
    )
    .order_by(run_events.c.seq)
    .limit(sa.bindparam("b_limit"))
)
_READ_SESSION = (
    sa.select(run_events.c.session_seq, run_events.c.type, run_events.c.data)
    .where(
        run_events.c.session_id == sa.bindparam("b_session_id"),
        run_events.c.session_seq > sa.bindparam("b_after"),
    )
    .order_by(run_events.c.session_seq)
    .limit(sa.bindparam("b_limit"))
)


def commit(
    conn: sa.Connection,
    *,
    run_id: str,
    events: Sequence[NewEvent],
    now: datetime,
    owner: Lease | None = None,
    values: dict[str, Any] | None = None,
) -> Committed | None:
    """Append `events` and apply `values` (column → value) to the run, atomically.

    Returns None, writing nothing, when the run has ended or (with `owner`) its lease is held by
    someone else. The events an outbound webhook wants go to its outbox in the same transaction.
    """
    committed = _append(conn, run_id=run_id, events=events, now=now, owner=owner, values=values)
    on_postgres = conn.dialect.name == "postgresql"  # its one statement queued them already
    wanted = webhook_outbox.wanted([event_type for event_type, _ in events])
    if committed is not None and committed.events and wanted and not on_postgres:
        logged = [(event.seq, event.type) for event in committed.events]
        queued = webhook_outbox.enqueue(conn, run_id, logged, now)
        if queued:
            return replace(committed, deliveries=queued)
    return committed


def _append(
    conn: sa.Connection,
    *,
    run_id: str,
    events: Sequence[NewEvent],
    now: datetime,
    owner: Lease | None,
    values: dict[str, Any] | None,
) -> Committed | None:
    """`commit` less the outbox."""
    values = dict(values or {})
    if events and events[-1][0] in TERMINAL_EVENT_TYPES:
        values["api_keys"] = None  # provider keys live exactly as long as the run
    if events and conn.dialect.name == "postgresql":
        return _append_in_one_statement(conn, run_id, events, now, owner, values)
    params: dict[str, Any] = {"b_run_id": run_id, "b_count": len(events), **values}
    if owner is not None:
        params |= {"b_owner": owner.worker_id, "b_attempt": owner.attempt}
    row = conn.execute(_BUMP if owner is None else _BUMP_OWNED, params).first()
    if row is None:
        return None
    last_seq, session_id = row
    session_last_seq = None
    if session_id is not None and events:
        session_last_seq = conn.execute(
            _BUMP_SESSION, {"b_session_id": session_id, "b_count": len(events)}
        ).scalar_one()
    if events:
        first = last_seq - len(events) + 1
        first_session = session_last_seq - len(events) + 1 if session_last_seq else None
        created_at = format_time(now)
        rows = []
        for offset, (event_type, payload) in enumerate(events):
            seq = first + offset
            document = {"seq": seq, "type": event_type, "run_id": run_id, "created_at": created_at}
            document.update(payload)
            rows.append(
                {
                    "run_id": run_id,
                    "seq": seq,
                    "type": event_type,
                    "data": orjson.dumps(document).decode(),
                    "session_id": session_id,
                    "session_seq": first_session + offset if first_session else None,
                    "created_at": now,
                }
            )
        conn.execute(_INSERT, rows)
        stored = tuple(StoredEvent(row["seq"], row["type"], row["data"]) for row in rows)
        return Committed(last_seq, session_id, session_last_seq, stored)
    return Committed(last_seq, session_id, session_last_seq)


def _append_in_one_statement(
    conn: sa.Connection,
    run_id: str,
    events: Sequence[NewEvent],
    now: datetime,
    owner: Lease | None,
    values: dict[str, Any],
) -> Committed | None:
    """`commit` on PostgreSQL: one statement, so a write needs no BEGIN and COMMIT around it.

    The documents are encoded here without their `seq`, which only the statement knows; it
    writes `{"seq":N,` in front of each.
    """
    columns = tuple(sorted(values))
    outbox = webhook_outbox.wanted([event_type for event_type, _ in events])
    statement = _append_statement(columns, owner is not None, outbox)
    created_at = format_time(now)
    # Each document less its opening brace: `"type":…}`, which the statement's `{"seq":N,` opens.
    rests = [
        orjson.dumps(
            {"type": event_type, "run_id": run_id, "created_at": created_at, **payload}
        ).decode()[1:]
        for event_type, payload in events
    ]
    params: dict[str, Any] = {
        "b_run_id": run_id,
        "b_count": len(events),
        "b_owner": owner.worker_id if owner else None,
        "b_attempt": owner.attempt if owner else None,
        "b_now": now,
        "b_types": [event_type for event_type, _ in events],
        "b_rests": rests,
        **{f"v_{column}": values[column] for column in columns},
    }
    row = conn.execute(statement, params).first()
    if row is None:
        return None
    last_seq, session_id, session_last_seq, deliveries = row
    first = last_seq - len(events) + 1
    stored = tuple(
        StoredEvent(first + offset, event_type, f'{{"seq":{first + offset},{rest}')
        for offset, ((event_type, _), rest) in enumerate(zip(events, rests, strict=True))
    )
    return Committed(last_seq, session_id, session_last_seq, stored, deliveries=deliveries or 0)


@functools.lru_cache(maxsize=128)
def _append_statement(columns: tuple[str, ...], owned: bool, outbox: bool) -> sa.Select[Any]:
    """Bump the run's (and its session's) last seq and insert the events after it.

    Parameters: the run, the event count, the owner if `owned`, the time, the arrays of types
    and of documents without their seq, and `v_<column>` for each of `columns`. With `outbox`,
    it also queues the webhook deliveries the events make, and returns how many.
    """
    count = sa.bindparam("b_count", type_=sa.Integer)
    run_id = sa.bindparam("b_run_id", type_=sa.String)
    bump_run = runs.update().where(runs.c.id == run_id, _NOT_ENDED)
    if owned:
        bump_run = bump_run.where(_OWNED)
    bump = (
        bump_run.values(
            last_seq=runs.c.last_seq + count,
            **{name: sa.bindparam(f"v_{name}", type_=runs.c[name].type) for name in columns},
        )
        .returning(runs.c.last_seq, runs.c.session_id, runs.c.workspace_id)
        .cte("bump")
    )
    bump_session = (
        sessions.update()
        .where(sessions.c.id == bump.c.session_id)
        .values(last_seq=sessions.c.last_seq + count)
        .returning(sessions.c.last_seq)
        .cte("bump_session")
    )
    new = (
        sa.func.unnest(
            sa.bindparam("b_types", type_=pg.ARRAY(sa.Text)),
            sa.bindparam("b_rests", type_=pg.ARRAY(sa.Text)),
        )
        .table_valued("type", "rest", with_ordinality="ord")
        .render_derived()
    )
    seq = bump.c.last_seq - count + new.c.ord
    rows = sa.select(
        run_id,
        seq,
        new.c.type,
        sa.literal('{"seq":') + sa.cast(seq, sa.Text) + sa.literal(",") + new.c.rest,
        bump.c.session_id,
        bump_session.c.last_seq - count + new.c.ord,
        sa.bindparam("b_now", type_=run_events.c.created_at.type),
    ).select_from(bump.join(new, sa.true()).outerjoin(bump_session, sa.true()))
    appended = (
        run_events.insert()
        .from_select(
            ["run_id", "seq", "type", "data", "session_id", "session_seq", "created_at"], rows
        )
        .cte("appended")
    )
    queued: sa.ColumnElement[Any] = sa.null()
    ctes = [appended]
    if outbox:
        now = sa.bindparam("b_now", type_=run_events.c.created_at.type)
        cte = webhook_outbox.outbox_cte(
            run_id, seq, new.c.type, bump.c.workspace_id, now, bump.join(new, sa.true())
        )
        queued = sa.select(sa.func.count()).select_from(cte).scalar_subquery()
        ctes.append(cte)
    return (
        sa.select(bump.c.last_seq, bump.c.session_id, bump_session.c.last_seq, queued)
        .select_from(bump.outerjoin(bump_session, sa.true()))
        .add_cte(*ctes)
    )


def read(conn: sa.Connection, run_id: str, *, after: int, limit: int) -> list[StoredEvent]:
    """Events with `seq > after`, in order, at most `limit`."""
    rows = conn.execute(_READ, {"b_run_id": run_id, "b_after": after, "b_limit": limit})
    return [StoredEvent(seq, type_, data) for seq, type_, data in rows]


def read_session(
    conn: sa.Connection, session_id: str, *, after: int, limit: int
) -> list[SessionEvent]:
    """Events of every run of a session with `session_seq > after`, in order."""
    rows = conn.execute(
        _READ_SESSION, {"b_session_id": session_id, "b_after": after, "b_limit": limit}
    )
    return [SessionEvent(seq, type_, data) for seq, type_, data in rows]


def run_start_cursor(conn: sa.Connection, session_id: str, session_seq: int) -> int | None:
    """The first session cursor of the run of the newest event at or before `session_seq`.

    None when no event is that old.
    """
    run_id = (
        sa.select(run_events.c.run_id)
        .where(run_events.c.session_id == session_id, run_events.c.session_seq <= session_seq)
        .order_by(run_events.c.session_seq.desc())
        .limit(1)
        .scalar_subquery()
    )
    query = sa.select(sa.func.min(run_events.c.session_seq)).where(run_events.c.run_id == run_id)
    return conn.execute(query).scalar_one_or_none()


def active_run_start(conn: sa.Connection, session_id: str) -> tuple[str | None, int | None]:
    """The session's run in flight (the oldest queued, running or waiting) and its first cursor."""
    run_id = conn.execute(
        sa.select(runs.c.id)
        .where(runs.c.session_id == session_id, runs.c.status.in_(ACTIVE_STATUSES))
        .order_by(runs.c.created_at, runs.c.id)
        .limit(1)
    ).scalar_one_or_none()
    if run_id is None:
        return None, None
    first = conn.execute(
        sa.select(sa.func.min(run_events.c.session_seq)).where(run_events.c.run_id == run_id)
    ).scalar_one_or_none()
    return run_id, first


def read_session_type(
    conn: sa.Connection, session_id: str, event_type: str, *, after: int, limit: int
) -> list[SessionEvent]:
    """The session's events of one type with `session_seq > after`, in order."""
    rows = conn.execute(
        sa.select(run_events.c.session_seq, run_events.c.type, run_events.c.data)
        .where(
            run_events.c.session_id == session_id,
            run_events.c.type == event_type,
            run_events.c.session_seq > after,
        )
        .order_by(run_events.c.session_seq)
        .limit(limit)
    )
    return [SessionEvent(seq, type_, data) for seq, type_, data in rows]
