"""The run queue: workers claim runs under a lease, renew it, and hand runs back.

A run can be claimed when it is queued (and, in a session, no earlier run of the session is
still active), or when it is running or waiting but its lease has expired because its worker
died. PostgreSQL skips rows another worker is claiming (`FOR UPDATE SKIP LOCKED`); SQLite
serialises writers, so the same statement is safe there.

A queued run is not claimed while its workspace, or its stored agent, holds as many leased
runs as its concurrency cap (`domain.quotas`); one claim takes no more than the caps leave.
On PostgreSQL two workers could each count the same free slot, so a claim that takes runs of a
capped workspace also rewrites that workspace's row, on the condition that the row is the
version its count saw (`xmin`): the second of two such claims waits for the first, finds the
row changed, and leaves that workspace's runs for its next claim. The claim stays one statement.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from corral.domain import quotas
from corral.storage.runs import RunRecord
from corral.storage.tables import runs, workspaces
from corral.types.runs import ACTIVE_STATUSES, RunStatus

_LEASED = (RunStatus.RUNNING, RunStatus.WAITING)
"""The statuses of the runs a worker holds, which the concurrency caps count."""


@dataclass(frozen=True, slots=True)
class Caps:
    """The server's concurrency caps (0: unlimited); a workspace's `limits` override them."""

    workspace: int = 0
    agent: int = 0


@dataclass(frozen=True, slots=True)
class Claim:
    """The runs one claim leased, oldest first."""

    runs: list[RunRecord]
    backlog: bool
    """Queued runs remain that this claim did not take: held back by a cap or by their
    session's order, or being taken by another worker. A run ending may let one start."""


def _status_in(
    column: sa.ColumnElement[str], statuses: Collection[RunStatus]
) -> sa.ColumnElement[bool]:
    """`column IN (...)` with the statuses written into the statement.

    A list of values would be an expanding parameter, rendered again at each execution: a
    tenth of a millisecond per claim.
    """
    return column.in_([sa.literal_column(f"'{status.value}'") for status in sorted(statuses)])


def _literal(value: str | int) -> sa.ColumnElement[Any]:
    """A constant written into the statement: every bound value costs time at each claim."""
    return sa.literal_column(f"'{value}'" if isinstance(value, str) else str(value))


_HELD = runs.alias("held")
_QUEUED = runs.c.status == _literal(RunStatus.QUEUED.value)
_WORKSPACE_VERSION: sa.ColumnElement[Any] = sa.literal_column("workspaces.xmin")
"""PostgreSQL's id of the transaction that wrote the workspace row's current version."""


def _held_runs(name: str, *by: sa.ColumnElement[str], where: Any = None) -> sa.Subquery:
    """The leased runs counted by `by` (`held`), once per claim rather than once per candidate.

    A backlog held back by a cap can be long, and every claim looks through it.
    """
    return (
        sa.select(*by, sa.func.count().label("held"))
        .where(
            _status_in(_HELD.c.status, _LEASED),
            # A run parked for approval holds no worker, nor a slot.
            _HELD.c.lease_owner.is_not(None),
            *([] if where is None else [where]),
        )
        .group_by(*by)
        .subquery(name)
    )


def _cap(name: str, server_default: str, *, for_postgres: bool) -> sa.ColumnElement[int]:
    """The workspace's override of a cap, else the server's (both: 0 for unlimited)."""
    override: sa.ColumnElement[Any]
    if for_postgres:
        override = workspaces.c.limits.op("->>")(_literal(name))
    else:
        override = sa.func.json_extract(workspaces.c.limits, _literal(f"$.{name}"))
    return sa.func.coalesce(
        sa.cast(override, sa.Integer), sa.bindparam(server_default, type_=sa.Integer)
    )


def _candidates(*, for_postgres: bool) -> sa.Select[Any]:
    """Claimable runs, oldest first, with the room each one's caps leave (null: no cap)."""
    earlier = runs.alias("earlier")
    earlier_active = (
        sa.select(earlier.c.id)
        .where(
            earlier.c.session_id == runs.c.session_id,
            earlier.c.session_position < runs.c.session_position,
            _status_in(earlier.c.status, ACTIVE_STATUSES),
        )
        .exists()
    )
    workspace_cap = _cap(quotas.MAX_CONCURRENT_RUNS, "b_workspace_cap", for_postgres=for_postgres)
    agent_cap = _cap(quotas.MAX_CONCURRENT_RUNS_PER_AGENT, "b_agent_cap", for_postgres=for_postgres)
    by_workspace = _held_runs("by_workspace", _HELD.c.workspace_id)
    by_agent = _held_runs(
        "by_agent", _HELD.c.workspace_id, _HELD.c.agent_id, where=_HELD.c.agent_id.is_not(None)
    )
    workspace_room = sa.case(
        (
            workspace_cap > _literal(0),
            workspace_cap - sa.func.coalesce(by_workspace.c.held, _literal(0)),
        ),
        else_=sa.null(),
    )
    agent_room = sa.case(
        (
            sa.and_(runs.c.agent_id.is_not(None), agent_cap > _literal(0)),
            agent_cap - sa.func.coalesce(by_agent.c.held, _literal(0)),
        ),
        else_=sa.null(),
    )
    found_in = (
        runs.join(workspaces, workspaces.c.id == runs.c.workspace_id)
        .outerjoin(by_workspace, by_workspace.c.workspace_id == runs.c.workspace_id)
        .outerjoin(
            by_agent,
            sa.and_(
                by_agent.c.workspace_id == runs.c.workspace_id,
                by_agent.c.agent_id == runs.c.agent_id,
            ),
        )
    )
    columns = [
        runs.c.id,
        runs.c.workspace_id,
        runs.c.agent_id,
        runs.c.status,
        workspace_room.label("workspace_room"),
        agent_room.label("agent_room"),
    ]
    if for_postgres:
        columns.append(_WORKSPACE_VERSION.label("workspace_version"))
    candidates = (
        sa.select(*columns)
        .select_from(found_in)
        .where(
            sa.or_(
                _QUEUED,
                sa.and_(
                    _status_in(runs.c.status, _LEASED),
                    runs.c.lease_expires_at < sa.bindparam("b_now"),
                    # A lapsed lease of a run the claiming worker still executes (its event
                    # loop stalled) is renewed by its next heartbeat, not taken over.
                    runs.c.id.not_in(sa.bindparam("b_running", expanding=True)),
                ),
            ),
            # Apart from the condition above: PostgreSQL takes many times longer to plan an
            # OR whose branches reach into the joined tables.
            sa.or_(
                ~_QUEUED,
                sa.and_(
                    sa.func.coalesce(workspace_room, _literal(1)) > _literal(0),
                    sa.func.coalesce(agent_room, _literal(1)) > _literal(0),
                ),
            ),
            sa.or_(runs.c.session_id.is_(None), ~earlier_active),
        )
        .order_by(runs.c.id)
        .limit(sa.bindparam("b_limit"))
    )
    if for_postgres:
        candidates = candidates.with_for_update(skip_locked=True, of=runs)
    return candidates


def _admitted(candidates: sa.Select[Any], *, for_postgres: bool) -> sa.Select[Any]:
    """The candidates the caps admit: a batch takes no more of a workspace than its room.

    A run whose lease expired is taken over regardless: it holds its slot already.
    """
    found = candidates.cte("candidates") if for_postgres else candidates.subquery("candidates")
    ranked = sa.select(
        found,
        sa.func.row_number()
        .over(partition_by=(found.c.workspace_id, found.c.status), order_by=found.c.id)
        .label("workspace_rank"),
        sa.func.row_number()
        .over(
            partition_by=(found.c.workspace_id, found.c.agent_id, found.c.status),
            order_by=found.c.id,
        )
        .label("agent_rank"),
    ).subquery("ranked")
    capped = sa.and_(
        ranked.c.status == _literal(RunStatus.QUEUED.value),
        sa.or_(ranked.c.workspace_room.is_not(None), ranked.c.agent_room.is_not(None)),
    )
    columns: list[Any] = [ranked.c.id]
    if for_postgres:
        columns += [ranked.c.workspace_id, ranked.c.workspace_version, capped.label("capped")]
    return sa.select(*columns).where(
        sa.or_(
            ranked.c.status != _literal(RunStatus.QUEUED.value),
            sa.and_(
                sa.or_(
                    ranked.c.workspace_room.is_(None),
                    ranked.c.workspace_rank <= ranked.c.workspace_room,
                ),
                sa.or_(ranked.c.agent_room.is_(None), ranked.c.agent_rank <= ranked.c.agent_room),
            ),
        )
    )


_LEASE_VALUES: dict[str, Any] = {
    "status": sa.case((_QUEUED, _literal(RunStatus.RUNNING.value)), else_=runs.c.status),
    "lease_owner": sa.bindparam("b_worker_id"),
    "lease_expires_at": sa.bindparam("b_expires_at"),
    "attempts": runs.c.attempts + 1,
    "started_at": sa.func.coalesce(runs.c.started_at, sa.bindparam("b_now")),
}


def _claim_sqlite() -> sa.Update:
    admitted = _admitted(_candidates(for_postgres=False), for_postgres=False)
    return (
        runs.update()
        .where(runs.c.id.in_(admitted.scalar_subquery()))
        .values(_LEASE_VALUES)
        .returning(*runs.c)
    )


def _claim_postgres() -> sa.Select[Any]:
    """The claim, the rewrite of capped workspaces' rows, and the backlog, in one statement."""
    chosen = _admitted(_candidates(for_postgres=True), for_postgres=True).cte("chosen")
    gated = (
        sa.select(chosen.c.workspace_id, chosen.c.workspace_version)
        .where(chosen.c.capped)
        .distinct()
        .subquery("gated")
    )
    # Rewriting the row to itself makes a new version; a concurrent claim that counted the old
    # one waits on it, then sees `xmin` changed and skips the workspace.
    rewritten = (
        workspaces.update()
        .where(
            workspaces.c.id == gated.c.workspace_id,
            gated.c.workspace_version == _WORKSPACE_VERSION,
        )
        .values(created_at=workspaces.c.created_at)
        .returning(workspaces.c.id)
        .cte("rewritten")
    )
    claimed = (
        runs.update()
        .where(
            runs.c.id == chosen.c.id,
            sa.or_(~chosen.c.capped, chosen.c.workspace_id.in_(sa.select(rewritten.c.id))),
        )
        .values(_LEASE_VALUES)
        .returning(*runs.c)
        .cte("claimed")
    )
    # In the order of the status index, so that PostgreSQL walks the queued runs in it rather
    # than the whole table (they are the newest rows, at its end).
    backlog = (
        sa.select(runs.c.id)
        .where(_QUEUED, runs.c.id.not_in(sa.select(claimed.c.id)))
        .order_by(runs.c.status, runs.c.lease_expires_at)
        .limit(1)
        .scalar_subquery()
        .is_not(None)
    )
    one = sa.select(backlog.label("backlog")).subquery("one")
    return sa.select(*claimed.c, one.c.backlog).select_from(one.outerjoin(claimed, sa.true()))


_CLAIM = _claim_sqlite()
_CLAIM_PG = _claim_postgres()
_BACKLOG = sa.select(sa.select(runs.c.id).where(_QUEUED).exists())


def claim(
    conn: sa.Connection,
    *,
    worker_id: str,
    now: datetime,
    lease_s: float,
    limit: int,
    caps: Caps = Caps(),
    running: Collection[str] = (),
) -> Claim:
    """Lease up to `limit` runs to `worker_id`, oldest first, as far as the caps allow.

    `running`: the runs the worker executes now, which it never claims again.

    One statement on PostgreSQL; on SQLite a second reads the backlog, in the same transaction
    as every SQLite write.
    """
    values = {
        "b_worker_id": worker_id,
        "b_now": now,
        "b_expires_at": now + timedelta(seconds=lease_s),
        "b_limit": limit,
        "b_workspace_cap": caps.workspace,
        "b_agent_cap": caps.agent,
        "b_running": list(running),
    }
    if conn.dialect.name == "postgresql":
        rows = conn.execute(_CLAIM_PG, values).all()
        backlog = bool(rows[0][-1])
        # One row even when nothing was claimed: it carries the backlog.
        leased = [RunRecord(*row[:-1]) for row in rows if row[0] is not None]
    else:
        leased = [RunRecord.from_row(row) for row in conn.execute(_CLAIM, values)]
        backlog = bool(conn.execute(_BACKLOG).scalar())
    return Claim(runs=sorted(leased, key=lambda r: r.id), backlog=backlog)


def heartbeat(
    conn: sa.Connection,
    *,
    worker_id: str,
    run_ids: Collection[str],
    now: datetime,
    lease_s: float,
) -> set[str]:
    """Renew the worker's leases; returns which of `run_ids` it still holds."""
    if not run_ids:
        return set()
    held = conn.execute(
        runs.update()
        .where(
            runs.c.id.in_(run_ids),
            runs.c.lease_owner == worker_id,
            runs.c.status.in_(_LEASED),
        )
        .values(lease_expires_at=now + timedelta(seconds=lease_s))
        .returning(runs.c.id)
    ).scalars()
    return set(held)


def release(conn: sa.Connection, *, worker_id: str, run_ids: Collection[str], now: datetime) -> int:
    """Hand runs back so another worker can take them over at once (graceful shutdown)."""
    if not run_ids:
        return 0
    result = conn.execute(
        runs.update()
        .where(
            runs.c.id.in_(run_ids),
            runs.c.lease_owner == worker_id,
            runs.c.status.in_(_LEASED),
        )
        .values(lease_expires_at=now)
    )
    return result.rowcount


def expire_all(conn: sa.Connection, *, now: datetime) -> int:
    """Make every leased run claimable now (SQLite mode: the previous process is gone)."""
    result = conn.execute(
        runs.update()
        .where(
            runs.c.status.in_([s.value for s in _LEASED]),
            runs.c.lease_owner.is_not(None),  # not the runs parked for approval
            runs.c.lease_expires_at > now,
        )
        .values(lease_expires_at=now)
    )
    return result.rowcount
