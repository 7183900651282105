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


def decide(conn: sa.Connection, approval_id: str, now: datetime, values: dict[str, Any]) -> bool:
    """Record a decision; False when the approval was no longer pending, or had expired."""
    result = conn.execute(
        approvals.update()
        .where(
            approvals.c.id == approval_id,
            approvals.c.status == _PENDING,
            sa.or_(approvals.c.expires_at.is_(None), approvals.c.expires_at > now),
        )
        .values(**values, decided_at=now)
    )
    return result.rowcount == 1


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
