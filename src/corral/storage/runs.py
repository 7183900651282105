"""RunStore: create, read, list and delete runs. Status changes go through `storage.events`."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage import usage as usage_store
from corral.storage.tables import approvals, runs, sessions, tool_calls
from corral.types.runs import ACTIVE_STATUSES, TERMINAL_STATUSES, RunStatus


@dataclass(frozen=True, slots=True)
class RunRecord:
    """A row of `runs` as the rest of Corral sees it."""

    id: str
    workspace_id: str
    agent_id: str | None
    agent_version: int | None
    session_id: str | None
    session_position: int | None
    status: str
    model: str
    spec: dict[str, Any]
    input: Any
    output: str | None
    error: dict[str, Any] | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    metadata: dict[str, str]
    idempotency_key: str | None
    request_hash: str | None
    last_seq: int
    lease_owner: str | None
    lease_expires_at: datetime | None
    attempts: int
    checkpoint: dict[str, Any] | None
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
    api_keys: str | None
    """Provider keys given with the run, sealed; cleared when the run ends."""
    key_id: str | None
    """The API key that submitted the run."""
    parent_run_id: str | None = None
    """The run whose tool call started this one (a subagent), if any."""
    root_run_id: str | None = None
    """The first run of the subagent's tree (null for a run no run started)."""
    depth: int = 0
    """How far below its root the run is (0: a root)."""
    call_id: str | None = None
    """The parent's tool call this run answers."""
    awaited: bool = False
    """Whether the parent waits for this run's end."""
    children: int = 0
    """How many subagents the run has started."""

    @classmethod
    def from_row(cls, row: sa.Row[Any]) -> RunRecord:
        """Build from a full row of `runs` (the fields follow the table's column order)."""
        return cls(*row)  # type: ignore[call-arg]  # one positional value per column

    @property
    def is_terminal(self) -> bool:
        """True once the run has ended."""
        return self.status in TERMINAL_STATUSES


# Hot statements are built once: constructing a statement costs more than executing it.
_INSERT = runs.insert()
_BY_ID = runs.c.id == sa.bindparam("b_run_id")
_IN_WORKSPACE = runs.c.workspace_id == sa.bindparam("b_workspace_id")
_GET = sa.select(runs).where(_BY_ID, _IN_WORKSPACE)
_STATUS = sa.select(runs.c.status).where(_BY_ID)
_STATUS_IN = sa.select(runs.c.status).where(_BY_ID, _IN_WORKSPACE)
_SESSION_IN = sa.select(runs.c.session_id).where(_BY_ID, _IN_WORKSPACE)


def insert(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Store a new run."""
    conn.execute(_INSERT, values)


def get(conn: sa.Connection, workspace_id: str, run_id: str) -> RunRecord | None:
    """The run, or None if it does not exist in the workspace."""
    row = conn.execute(_GET, {"b_run_id": run_id, "b_workspace_id": workspace_id}).first()
    return RunRecord.from_row(row) if row else None


def get_status(conn: sa.Connection, run_id: str) -> str | None:
    """Only the status of a run (None when it does not exist)."""
    return conn.execute(_STATUS, {"b_run_id": run_id}).scalar()


def get_status_in(conn: sa.Connection, workspace_id: str, run_id: str) -> str | None:
    """The status of a run of the workspace, or None when there is no such run."""
    return conn.execute(_STATUS_IN, {"b_run_id": run_id, "b_workspace_id": workspace_id}).scalar()


def session_of(conn: sa.Connection, workspace_id: str, run_id: str) -> str | None:
    """The session a run of the workspace belongs to; None outside sessions or for no run."""
    return conn.execute(_SESSION_IN, {"b_run_id": run_id, "b_workspace_id": workspace_id}).scalar()


def get_by_idempotency_key(conn: sa.Connection, workspace_id: str, key: str) -> RunRecord | None:
    """The run created with this idempotency key, if any."""
    row = conn.execute(
        sa.select(runs).where(runs.c.workspace_id == workspace_id, runs.c.idempotency_key == key)
    ).first()
    return RunRecord.from_row(row) if row else None


def list_page(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None = None,
    status: str | None = None,
    agent_id: str | None = None,
    session_id: str | None = None,
    has_session: bool | None = None,
    metadata: Sequence[tuple[str, str]] = (),
    parent_run_id: str | None = None,
    root_run_id: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> list[RunRecord]:
    """Runs newest first (ids sort by creation time), `limit` of them after the cursor.

    `has_session` False keeps only runs outside sessions, True only runs of sessions. The page
    stays ordered by id, the cursor's order, whatever the creation-time bounds: those only filter.
    """
    equal = (
        (runs.c.status, status),
        (runs.c.agent_id, agent_id),
        (runs.c.session_id, session_id),
        (runs.c.parent_run_id, parent_run_id),
        (runs.c.root_run_id, root_run_id),
    )
    query = sa.select(runs).where(
        runs.c.workspace_id == workspace_id,
        *(column == value for column, value in equal if value is not None),
    )
    if before_id is not None:
        query = query.where(runs.c.id < before_id)
    if has_session is not None:
        column = runs.c.session_id
        query = query.where(column.is_not(None) if has_session else column.is_(None))
    if created_after is not None:
        query = query.where(runs.c.created_at >= created_after)
    if created_before is not None:
        query = query.where(runs.c.created_at < created_before)
    for key, value in metadata:
        query = query.where(runs.c.metadata[key].as_string() == value)
    rows = conn.execute(query.order_by(runs.c.id.desc()).limit(limit))
    return [RunRecord.from_row(row) for row in rows]


def _at_least(column: sa.ColumnElement[Any], value: float) -> sa.ColumnElement[Any]:
    return sa.case((column < value, value), else_=column)


def keep_cancelled_usage(
    conn: sa.Connection, run_id: str, *, input_tokens: int, output_tokens: int, cost_usd: float
) -> None:
    """Raise a cancelled run's usage to what its worker counted after its last checkpoint.

    Never lowers it: two workers that both held the run at some point may both report.
    """
    conn.execute(
        runs.update()
        .where(runs.c.id == run_id, runs.c.status == RunStatus.CANCELLED.value)
        .values(
            input_tokens=_at_least(runs.c.input_tokens, input_tokens),
            output_tokens=_at_least(runs.c.output_tokens, output_tokens),
            cost_usd=_at_least(runs.c.cost_usd, cost_usd),
        )
    )


def delete_ended(conn: sa.Connection, workspace_id: str, run_id: str) -> bool:
    """Delete a run that has ended, with its events; False when it is missing or active.

    What it spent is kept apart, for the spend caps.
    """
    deleted = (
        conn.execute(
            runs.delete()
            .where(
                runs.c.id == run_id,
                runs.c.workspace_id == workspace_id,
                runs.c.status.in_(TERMINAL_STATUSES),
            )
            .returning(
                runs.c.id,
                runs.c.workspace_id,
                runs.c.agent_id,
                runs.c.session_id,
                runs.c.created_at,
                runs.c.cost_usd,
            )
        )
        .mappings()
        .first()
    )
    if deleted is None:
        return False
    usage_store.keep_deleted_spend(conn, deleted)
    return True


def lock_active_in_session(conn: sa.Connection, session_id: str) -> list[tuple[str, str]]:
    """(id, status) of the session's runs that have not ended, oldest first, locked.

    The locks last as long as the transaction. Committing a run's events locks the run and then
    its session; whoever changes a session and its runs together takes the runs first, in that
    same order, so the two never deadlock.
    """
    rows = conn.execute(
        sa.select(runs.c.id, runs.c.status)
        .where(runs.c.session_id == session_id, runs.c.status.in_(ACTIVE_STATUSES))
        .order_by(runs.c.session_position)
        .with_for_update()
    )
    return [(run_id, status) for run_id, status in rows]


def pending_tool_calls_of(
    conn: sa.Connection, run_ids: Sequence[str]
) -> dict[str, list[dict[str, Any]]]:
    """Client tool calls awaiting a result, for each of the runs that has some."""
    if not run_ids:
        return {}
    rows = conn.execute(
        sa.select(tool_calls.c.run_id, tool_calls.c.call_id, tool_calls.c.name, tool_calls.c.input)
        .where(tool_calls.c.run_id.in_(run_ids), tool_calls.c.status == "pending")
        .order_by(tool_calls.c.created_at, tool_calls.c.call_id)
    ).mappings()
    pending: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        call = dict(row)
        pending.setdefault(call.pop("run_id"), []).append(call)
    return pending


def finished_before(conn: sa.Connection, keys: Collection[str], before: datetime) -> set[str]:
    """Of these run and session ids, those that ended before `before` or no longer exist."""
    still_needed: set[str] = set()
    for table, prefix in ((runs, "run_"), (sessions, "ses_")):
        ids = [key for key in keys if key.startswith(prefix)]
        if not ids:
            continue
        rows = conn.execute(sa.select(table.c.id, table.c.ended_at).where(table.c.id.in_(ids)))
        still_needed |= {row_id for row_id, ended in rows if ended is None or ended >= before}
    return {key for key in keys if key.startswith(("run_", "ses_"))} - still_needed


_CHILD = runs.alias("child")
_REQUEUE = (
    runs.update()
    .where(
        runs.c.id == sa.bindparam("b_run_id"),
        runs.c.status == RunStatus.WAITING.value,
        runs.c.lease_owner.is_(None),
        ~sa.select(approvals.c.id)
        .where(approvals.c.run_id == runs.c.id, approvals.c.status == "pending")
        .exists(),
        ~sa.select(_CHILD.c.id)
        .where(
            _CHILD.c.parent_run_id == runs.c.id,
            _CHILD.c.awaited,
            _CHILD.c.status.in_(
                [sa.literal_column(f"'{status.value}'") for status in sorted(ACTIVE_STATUSES)]
            ),
        )
        .exists(),
    )
    .values(status=RunStatus.QUEUED.value, lease_expires_at=None)
)


def requeue_parked(conn: sa.Connection, run_id: str) -> bool:
    """Queue again a parked run once it waits for nothing (False: it still waits).

    It waits for its pending approvals and for the end of the subagents it awaits.
    """
    result = conn.execute(_REQUEUE, {"b_run_id": run_id})
    return result.rowcount == 1
