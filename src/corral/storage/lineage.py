"""Subagent trees: a run's children, its descendants, and what the tree spent.

Lock order: a transaction that ends a child and wakes its parent locks the child's row, then
the parent's (`wake_parent`). Nothing locks a parent and then one of its children in the same
transaction (a cascade ends each descendant in its own), so the two never wait on each other.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from corral.storage.runs import RunRecord, requeue_parked
from corral.storage.tables import runs
from corral.types.runs import ACTIVE_STATUSES, RunStatus

__all__ = [
    "Child",
    "SubtreeUsage",
    "active_descendants",
    "await_children",
    "breadth",
    "children_of",
    "children_of_calls",
    "insert_children",
    "subtree_ids",
    "subtree_usage",
    "tree_cost",
    "wake_parent",
]

_ACTIVE = [status.value for status in ACTIVE_STATUSES]


@dataclass(frozen=True, slots=True)
class Child:
    """What a parent reads of a subagent it started."""

    id: str
    call_id: str | None
    status: RunStatus
    output: str | None
    error: dict[str, Any] | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class SubtreeUsage:
    """What a run and every run below it used."""

    input_tokens: int
    output_tokens: int
    cost_usd: float
    runs: int
    """How many runs the subtree holds, the run itself included."""


_CHILD_COLUMNS = (
    runs.c.id,
    runs.c.call_id,
    runs.c.status,
    runs.c.output,
    runs.c.error,
    runs.c.input_tokens,
    runs.c.output_tokens,
    runs.c.cost_usd,
)


def _child(row: Any) -> Child:
    return Child(
        id=row.id,
        call_id=row.call_id,
        status=RunStatus(row.status),
        output=row.output,
        error=row.error,
        input_tokens=row.input_tokens,
        output_tokens=row.output_tokens,
        cost_usd=row.cost_usd,
    )


_OF_CALLS = sa.select(*_CHILD_COLUMNS).where(
    runs.c.parent_run_id == sa.bindparam("b_parent"),
    runs.c.call_id.in_(sa.bindparam("b_calls", expanding=True)),
)


def children_of_calls(
    conn: sa.Connection, parent_run_id: str, call_ids: Collection[str]
) -> dict[str, Child]:
    """The subagents these calls of the parent started, by call id."""
    if not call_ids:
        return {}
    rows = conn.execute(_OF_CALLS, {"b_parent": parent_run_id, "b_calls": list(call_ids)})
    return {row.call_id: _child(row) for row in rows}


def insert_children(
    conn: sa.Connection, parent_run_id: str, rows: Sequence[dict[str, Any]]
) -> list[Child]:
    """Store new subagent runs of the parent, counted in its `children`."""
    if not rows:
        return []
    conn.execute(runs.insert(), list(rows))
    conn.execute(
        runs.update().where(runs.c.id == parent_run_id).values(children=runs.c.children + len(rows))
    )
    return [
        Child(
            id=row["id"],
            call_id=row["call_id"],
            status=RunStatus(row["status"]),
            output=None,
            error=None,
            input_tokens=0,
            output_tokens=0,
            cost_usd=0.0,
        )
        for row in rows
    ]


_STARTED = sa.select(runs.c.children).where(runs.c.id == sa.bindparam("b_parent"))
_LIVE = (
    sa.select(sa.func.count())
    .select_from(runs)
    .where(runs.c.root_run_id == sa.bindparam("b_root"), runs.c.status.in_(_ACTIVE))
)


def breadth(conn: sa.Connection, parent_run_id: str, root_run_id: str) -> tuple[int, int]:
    """(subagents the parent started, subagents of the tree still active)."""
    started = conn.execute(_STARTED, {"b_parent": parent_run_id}).scalar_one_or_none()
    live = conn.execute(_LIVE, {"b_root": root_run_id}).scalar_one()
    return started or 0, live


def children_of(conn: sa.Connection, parent_run_id: str, ids: Collection[str]) -> list[Child]:
    """These subagents of the parent, as they stand (another run's are not found)."""
    if not ids:
        return []
    rows = conn.execute(
        sa.select(*_CHILD_COLUMNS).where(
            runs.c.parent_run_id == parent_run_id, runs.c.id.in_(list(ids))
        )
    )
    return [_child(row) for row in rows]


def await_children(conn: sa.Connection, parent_run_id: str, ids: Collection[str]) -> None:
    """Mark the parent as waiting for these children's ends (see `runs.requeue_parked`)."""
    if ids:
        conn.execute(
            runs.update()
            .where(runs.c.parent_run_id == parent_run_id, runs.c.id.in_(list(ids)))
            .values(awaited=True)
        )


_LOCK = sa.select(runs.c.id).where(runs.c.id == sa.bindparam("b_run_id")).with_for_update()


def wake_parent(conn: sa.Connection, parent_run_id: str) -> bool:
    """Queue the parent again if it is parked and waits for nothing more (a child just ended).

    The parent's row is locked first, in its own statement: of two children ending at once on
    PostgreSQL, the second then sees the first's end, and one of them queues the parent.
    """
    locked = conn.execute(_LOCK, {"b_run_id": parent_run_id}).first()
    return locked is not None and requeue_parked(conn, parent_run_id)


def _subtree(top: Sequence[str]) -> sa.CTE:
    """(top, id) for every run at or below each of `top`."""
    tree = (
        sa.select(runs.c.id.label("top"), runs.c.id.label("id"))
        .where(runs.c.id.in_(list(top)))
        .cte("tree", recursive=True)
    )
    below = runs.alias("below")
    return tree.union_all(
        sa.select(tree.c.top, below.c.id).where(below.c.parent_run_id == tree.c.id)
    )


def active_descendants(conn: sa.Connection, run_id: str) -> list[RunRecord]:
    """The runs below `run_id` that have not ended, deepest first."""
    tree = _subtree([run_id])
    rows = conn.execute(
        sa.select(runs)
        .join(tree, tree.c.id == runs.c.id)
        .where(runs.c.id != run_id, runs.c.status.in_(_ACTIVE))
        .order_by(runs.c.depth.desc(), runs.c.id)
    )
    return [RunRecord.from_row(row) for row in rows]


def subtree_ids(conn: sa.Connection, run_id: str) -> list[str]:
    """The run and every run below it."""
    tree = _subtree([run_id])
    return list(conn.execute(sa.select(tree.c.id)).scalars())


def subtree_usage(conn: sa.Connection, run_ids: Sequence[str]) -> dict[str, SubtreeUsage]:
    """What each run's subtree used, itself included."""
    if not run_ids:
        return {}
    tree = _subtree(run_ids)
    rows = conn.execute(
        sa.select(
            tree.c.top,
            sa.func.sum(runs.c.input_tokens),
            sa.func.sum(runs.c.output_tokens),
            sa.func.sum(runs.c.cost_usd),
            sa.func.count(),
        )
        .join(tree, tree.c.id == runs.c.id)
        .group_by(tree.c.top)
    )
    return {
        top: SubtreeUsage(int(inputs), int(outputs), float(cost), int(count))
        for top, inputs, outputs, cost, count in rows
    }


def tree_cost(conn: sa.Connection, root_run_id: str, but: str) -> float:
    """What the root and every run of its tree spent, leaving out the run `but`."""
    spent = conn.execute(
        sa.select(sa.func.coalesce(sa.func.sum(runs.c.cost_usd), 0.0)).where(
            sa.or_(runs.c.id == root_run_id, runs.c.root_run_id == root_run_id),
            runs.c.id != but,
        )
    ).scalar_one()
    return float(spent)
