"""Approvals: the durable rendezvous between a run held by a permission policy and a person.

A run that asks writes its approvals and parks in one transaction (`progress.save`); a decision
updates one approval while it is still pending and unexpired, and the last decision of a run
queues it again (`services.approvals`). An approval of a run that ended undecided reads as
`withdrawn`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import approvals, runs
from corral.types.permissions import ApprovalStatus
from corral.types.runs import TERMINAL_STATUSES

_PENDING = ApprovalStatus.PENDING.value
_ENDED = frozenset(status.value for status in TERMINAL_STATUSES)
_RUN_ENDED = runs.c.status.in_(sorted(_ENDED))
_WITH_RUN = sa.select(*approvals.c, runs.c.metadata, runs.c.status.label("run_status")).join(
    runs, runs.c.id == approvals.c.run_id
)
"""Approvals with their run's metadata (the API shows it) and status (see `_effective`)."""
_NOT_ENDED = sa.text("runs.status NOT IN (" + ", ".join(f"'{v}'" for v in sorted(_ENDED)) + ")")
"""`~_RUN_ENDED` with the statuses in the SQL: no list to expand each time it runs."""
_DECIDE = (
    approvals.update()
    .where(
        approvals.c.workspace_id == sa.bindparam("b_workspace_id"),
        approvals.c.run_id == sa.bindparam("b_run_id"),
        approvals.c.call_id == sa.bindparam("b_call_id"),
        approvals.c.status == _PENDING,
        sa.or_(approvals.c.expires_at.is_(None), approvals.c.expires_at > sa.bindparam("b_now")),
        sa.select(runs.c.id).where(runs.c.id == approvals.c.run_id, _NOT_ENDED).exists(),
    )
    .values(decided_at=sa.bindparam("b_now"))
    .returning(
        *approvals.c,
        # Named in full: SQLite's RETURNING drops table names, and a bare `run_id` in this
        # subquery would be read off `runs` if it ever had one.
        sa.select(runs.c.metadata)
        .where(runs.c.id == sa.literal_column("approvals.run_id"))
        .scalar_subquery()
        .label("metadata"),
    )
)
"""Decides a pending, unexpired approval of a run that has not ended; built once, as `decide`
runs while a person waits."""
_DECISIONS = sa.select(
    approvals.c.call_id,
    approvals.c.status,
    approvals.c.decided_input,
    approvals.c.message,
    approvals.c.expires_at,
).where(approvals.c.run_id == sa.bindparam("b_run_id"))


def insert(conn: sa.Connection, rows: Sequence[dict[str, Any]]) -> None:
    """Record the calls a run now waits on (every column but the decision's), pending."""
    if rows:
        conn.execute(approvals.insert(), [{**row, "status": _PENDING} for row in rows])


def of_run(conn: sa.Connection, run_id: str) -> list[dict[str, Any]]:
    """Every approval of a run, oldest first, with the run's metadata and status."""
    rows = conn.execute(
        _WITH_RUN.where(approvals.c.run_id == run_id).order_by(approvals.c.id)
    ).mappings()
    return [_effective(row) for row in rows]


def decisions_of(conn: sa.Connection, run_id: str) -> dict[str, dict[str, Any]]:
    """A run's approvals by call id, as its worker reads them: status and decision.

    Without the run's columns (`of_run`): the run reading them is running, and every run that
    asks reads them once before it does.
    """
    rows = conn.execute(_DECISIONS, {"b_run_id": run_id}).mappings()
    return {row["call_id"]: dict(row) for row in rows}


def pending_of(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The approvals still awaiting a decision, for each of the runs that has some."""
    if not run_ids:
        return {}
    rows = conn.execute(
        sa.select(
            approvals.c.run_id,
            approvals.c.id.label("approval_id"),
            approvals.c.call_id,
            approvals.c.tool.label("name"),
            approvals.c.input,
            approvals.c.policy,
            approvals.c.expires_at,
        )
        .where(approvals.c.run_id.in_(run_ids), approvals.c.status == _PENDING)
        .order_by(approvals.c.id)
    ).mappings()
    pending: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        found = dict(row)
        pending.setdefault(found.pop("run_id"), []).append(found)
    return pending


def get(conn: sa.Connection, workspace_id: str, run_id: str, call_id: str) -> dict[str, Any] | None:
    """One approval of a run in the workspace, by its call's id."""
    row = (
        conn.execute(
            _WITH_RUN.where(
                approvals.c.workspace_id == workspace_id,
                approvals.c.run_id == run_id,
                approvals.c.call_id == call_id,
            )
        )
        .mappings()
        .first()
    )
    return None if row is None else _effective(row)


def decide(
    conn: sa.Connection,
    workspace_id: str,
    run_id: str,
    call_id: str,
    now: datetime,
    values: dict[str, Any],
) -> dict[str, Any] | None:
    """Record a decision in one statement; the approval as decided, with its run's metadata.

    `values` are the columns the decision sets. None, writing nothing, unless the approval was
    pending and unexpired and its run had not ended: `get` tells which.
    """
    row = (
        conn.execute(
            _DECIDE,
            {
                "b_workspace_id": workspace_id,
                "b_run_id": run_id,
                "b_call_id": call_id,
                "b_now": now,
                **values,
            },
        )
        .mappings()
        .first()
    )
    return None if row is None else dict(row)


def expire(conn: sa.Connection, run_id: str, now: datetime) -> None:
    """Mark a run's pending approvals whose time is up as expired."""
    conn.execute(
        approvals.update()
        .where(
            approvals.c.run_id == run_id,
            approvals.c.status == _PENDING,
            approvals.c.expires_at <= now,
        )
        .values(status=ApprovalStatus.EXPIRED.value, decided_at=now)
    )


def listed(
    conn: sa.Connection,
    workspace_id: str,
    *,
    status: ApprovalStatus | None,
    agent_id: str | None,
    session_id: str | None,
    run_id: str | None,
    metadata: Sequence[tuple[str, str]],
    outside_sessions: bool,
    before: str | None,
    limit: int,
) -> list[dict[str, Any]]:
    """A page of the workspace's approvals, newest first, `limit` + 1 to tell if more follow."""
    query = _WITH_RUN.where(approvals.c.workspace_id == workspace_id)
    if status is ApprovalStatus.WITHDRAWN:
        query = query.where(approvals.c.status == _PENDING, _RUN_ENDED)
    elif status is ApprovalStatus.PENDING:
        query = query.where(approvals.c.status == _PENDING, ~_RUN_ENDED)
    elif status is not None:
        query = query.where(approvals.c.status == status.value)
    for column, value in (
        (approvals.c.agent_id, agent_id),
        (approvals.c.session_id, session_id),
        (approvals.c.run_id, run_id),
    ):
        if value is not None:
            query = query.where(column == value)
    if outside_sessions:
        query = query.where(approvals.c.session_id.is_(None))
    for key, value in metadata:
        query = query.where(runs.c.metadata[key].as_string() == value)
    if before is not None:
        query = query.where(approvals.c.id < before)
    rows = conn.execute(query.order_by(approvals.c.id.desc()).limit(limit + 1)).mappings()
    return [_effective(row) for row in rows]


def _effective(row: Any) -> dict[str, Any]:
    """The row as the API shows it: pending on an ended run reads `withdrawn`."""
    found = dict(row)
    if found.pop("run_status") in _ENDED and found["status"] == _PENDING:
        found["status"] = ApprovalStatus.WITHDRAWN.value
    return found
