"""Erasing a session: its runs with their subagent trees, and every row that points at them.

The runs themselves go through `storage.runs.delete_ended`, as a deleted run does, so what they
spent stays counted by the spend caps. The rows removed here belong to other stores (webhook
deliveries, routine fires, idempotency records) and only ever name a run or a session by id,
without a foreign key that would take them along.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from corral.storage.tables import idempotency_records, runs, session_messages, sessions
from corral.storage.tables_routines import routine_fires
from corral.storage.tables_webhooks import webhook_deliveries
from corral.types.runs import TERMINAL_STATUSES

__all__ = ["TreeRun", "delete_session", "forget_references", "tree"]

_TOOL_RESULTS_OPERATION = "runs.tool_results:"
"""Prefix of the idempotency operation of a run's tool results (see `api/routes/runs.py`)."""
_SESSION_CREATE_OPERATION = "sessions.create"


@dataclass(frozen=True, slots=True)
class TreeRun:
    """A run of the session, or a subagent below one."""

    id: str
    status: str
    depth: int

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended."""
        return self.status in TERMINAL_STATUSES


def _in_tree(table: sa.FromClause, session_id: str) -> sa.ColumnElement[bool]:
    """Whether a row of `table` (`runs` or an alias) is a run of the session or below one.

    A session's runs are the roots of their trees, so a subagent names one as `root_run_id`.
    The roots are read through an alias of their own, which keeps the subquery apart from the
    query it is used in.
    """
    root = runs.alias("root")
    roots = sa.select(root.c.id).where(root.c.session_id == session_id)
    return sa.or_(table.c.session_id == session_id, table.c.root_run_id.in_(roots))


def _tree_ids(session_id: str) -> sa.Select[tuple[str]]:
    member = runs.alias("member")
    return sa.select(member.c.id).where(_in_tree(member, session_id))


def tree(conn: sa.Connection, session_id: str) -> list[TreeRun]:
    """The session's runs and their subagents, deepest first (children before their parents)."""
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.status, runs.c.depth)
        .where(_in_tree(runs, session_id))
        .order_by(runs.c.depth.desc(), runs.c.id)
    )
    return [TreeRun(id=run_id, status=status, depth=depth) for run_id, status, depth in rows]


def _text(constant: str) -> sa.ColumnElement[str]:
    """A constant string written into the statement (a bound one has no type on PostgreSQL)."""
    return sa.literal_column(f"'{constant}'", sa.String)


def _of_session(
    fires: sa.FromClause, workspace_id: str, session_id: str, run_ids: sa.Select[tuple[str]]
) -> sa.ColumnElement[bool]:
    """Whether a routine's fire started a run of the tree or went into the session."""
    return sa.and_(
        fires.c.workspace_id == workspace_id,
        sa.or_(fires.c.run_id.in_(run_ids), fires.c.session_id == session_id),
    )


def forget_references(conn: sa.Connection, workspace_id: str, session_id: str) -> None:
    """Delete what names the session or its runs: deliveries, fires, idempotency records.

    Run this before the runs themselves are deleted: the runs are found through their rows.
    """
    run_ids = _tree_ids(session_id)
    fired = routine_fires.alias("fired")
    # A fire's `routine.fired` message is in no run's log: its delivery keeps the document.
    fire_messages = sa.select(_text("msg_") + fired.c.id).where(
        _of_session(fired, workspace_id, session_id, run_ids)
    )
    deliveries = webhook_deliveries.c
    conn.execute(
        webhook_deliveries.delete().where(
            deliveries.workspace_id == workspace_id,
            sa.or_(
                deliveries.run_id.in_(run_ids),
                sa.and_(deliveries.run_id.is_(None), deliveries.message_id.in_(fire_messages)),
            ),
        )
    )
    conn.execute(
        routine_fires.delete().where(_of_session(routine_fires, workspace_id, session_id, run_ids))
    )
    member = runs.alias("member")
    tool_results = sa.select(_text(_TOOL_RESULTS_OPERATION) + member.c.id).where(
        _in_tree(member, session_id)
    )
    records = idempotency_records.c
    conn.execute(
        idempotency_records.delete().where(
            records.workspace_id == workspace_id,
            sa.or_(
                records.operation.in_(tool_results),
                sa.and_(
                    records.operation == _SESSION_CREATE_OPERATION,
                    # The stored answer is the session, whose JSON names its id.
                    records.body.contains(f'"id":"{session_id}"', autoescape=True),
                ),
            ),
        )
    )


def delete_session(conn: sa.Connection, session_id: str) -> int:
    """Delete the session and its conversation; how many messages it held.

    Its runs must be deleted first: the runs' link to it would be cleared, not followed.
    """
    held = conn.execute(
        session_messages.delete().where(session_messages.c.session_id == session_id)
    ).rowcount
    conn.execute(sessions.delete().where(sessions.c.id == session_id))
    return int(held)
