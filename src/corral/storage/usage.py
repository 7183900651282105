"""Usage sums: tokens, cost and runs of a workspace's runs, aggregated by the database.

Also what spend caps count: the cost of runs since a time, deleted runs' included.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage.tables import deleted_run_costs, runs


@dataclass(frozen=True, slots=True)
class UsageSums:
    """The sums of one group.

    `group` maps each grouping asked for (`day`, `agent`, `model`, `key`) to its value.
    """

    group: dict[str, Any]
    input_tokens: int
    output_tokens: int
    cost_usd: float
    runs: int


def utc_day(column: sa.ColumnElement[datetime], dialect: str) -> sa.ColumnElement[str]:
    """The UTC day of a stored time, as `YYYY-MM-DD` text.

    SQLite stores times as UTC text, whose `date()` is the day; PostgreSQL shifts a
    `timestamptz` to UTC first, whatever the session's time zone. The constants are literal so
    that the same expression in SELECT and GROUP BY compares equal on PostgreSQL.
    """
    if dialect == "postgresql":
        in_utc = sa.func.timezone(sa.literal_column("'UTC'"), column)
        return sa.func.to_char(in_utc, sa.literal_column("'YYYY-MM-DD'"), type_=sa.String)
    return sa.func.date(column, type_=sa.String)


def _grouping_column(name: str, dialect: str) -> sa.ColumnElement[Any]:
    if name == "day":
        return utc_day(runs.c.created_at, dialect)
    columns = {"agent": runs.c.agent_id, "model": runs.c.model, "key": runs.c.key_id}
    return columns[name]


def sums(
    conn: sa.Connection,
    workspace_id: str,
    *,
    since: datetime,
    until: datetime,
    group_by: Sequence[str] = (),
) -> list[UsageSums]:
    """Sums over the workspace's runs created in [since, until), one row per group.

    Without `group_by`, a single row with the sums of every run (zeros when there is none).
    """
    grouped = [_grouping_column(name, conn.dialect.name).label(name) for name in group_by]
    query = (
        sa.select(
            *grouped,
            sa.func.coalesce(sa.func.sum(runs.c.input_tokens), 0),
            sa.func.coalesce(sa.func.sum(runs.c.output_tokens), 0),
            sa.func.coalesce(sa.func.sum(runs.c.cost_usd), 0.0),
            sa.func.count(),
        )
        .where(
            runs.c.workspace_id == workspace_id,
            runs.c.created_at >= since,
            runs.c.created_at < until,
        )
        .group_by(*grouped)
    )
    found = []
    for row in conn.execute(query):
        *values, input_tokens, output_tokens, cost_usd, count = row
        found.append(
            UsageSums(
                group=dict(zip(group_by, values, strict=True)),
                # PostgreSQL sums big integers as numerics.
                input_tokens=int(input_tokens),
                output_tokens=int(output_tokens),
                cost_usd=float(cost_usd),
                runs=int(count),
            )
        )
    return found


def spent(
    conn: sa.Connection,
    workspace_id: str,
    *,
    since: datetime | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
    excluding_run: str | None = None,
) -> float:
    """What the workspace's runs created since `since` spent, deleted runs included.

    Narrowed to one agent's or one session's runs when given (their ids are unique, so the
    workspace is not compared then). Each of the two sums is a range scan of one index:
    (workspace_id, created_at), (agent_id, created_at) or session_id.
    """
    total: sa.ColumnElement[Any] = sa.literal(0.0, sa.Float)
    for table in (runs, deleted_run_costs):
        conditions = []
        if agent_id is None and session_id is None:
            conditions.append(table.c.workspace_id == workspace_id)
        if since is not None:
            conditions.append(table.c.created_at >= since)
        if agent_id is not None:
            conditions.append(table.c.agent_id == agent_id)
        if session_id is not None:
            conditions.append(table.c.session_id == session_id)
        if excluding_run is not None:
            key = runs.c.id if table is runs else deleted_run_costs.c.run_id
            conditions.append(key != excluding_run)
        query = sa.select(sa.func.coalesce(sa.func.sum(table.c.cost_usd), 0.0)).where(*conditions)
        total = total + query.scalar_subquery()
    return float(conn.execute(sa.select(total)).scalar_one())


def of_session(conn: sa.Connection, session_id: str) -> UsageSums:
    """What the session's runs used, summed (deleted runs not counted)."""
    row = conn.execute(
        sa.select(
            sa.func.coalesce(sa.func.sum(runs.c.input_tokens), 0),
            sa.func.coalesce(sa.func.sum(runs.c.output_tokens), 0),
            sa.func.coalesce(sa.func.sum(runs.c.cost_usd), 0.0),
            sa.func.count(),
        ).where(runs.c.session_id == session_id)
    ).one()
    input_tokens, output_tokens, cost_usd, count = row
    return UsageSums(
        group={},
        input_tokens=int(input_tokens),
        output_tokens=int(output_tokens),
        cost_usd=float(cost_usd),
        runs=int(count),
    )


def keep_deleted_spend(conn: sa.Connection, run: sa.RowMapping) -> None:
    """Remember what a deleted run spent, so that spend caps go on counting it.

    `run` has the run's `id`, `workspace_id`, `agent_id`, `session_id`, `created_at` and
    `cost_usd`.
    """
    if run["cost_usd"]:
        conn.execute(
            deleted_run_costs.insert().values(
                run_id=run["id"],
                workspace_id=run["workspace_id"],
                agent_id=run["agent_id"],
                session_id=run["session_id"],
                created_at=run["created_at"],
                cost_usd=run["cost_usd"],
            )
        )
