"""SessionStore: sessions, their remembered conversation, its latest summaries, and run order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.domain.compaction import Summary
from corral.storage import usage as usage_store
from corral.storage.tables import runs, session_messages, sessions
from corral.types.runs import ACTIVE_STATUSES

_SHOWN = [column for column in sessions.c if column is not sessions.c.context_summary]
"""The columns sessions are read with: the summaries are read only by the runs that need them."""


def insert(conn: sa.Connection, values: dict[str, Any]) -> None:
    """Store a new session."""
    conn.execute(sessions.insert(), values)


def get(conn: sa.Connection, workspace_id: str, session_id: str) -> sa.RowMapping | None:
    """The session row, or None when it is not in the workspace."""
    return (
        conn.execute(
            sa.select(*_SHOWN).where(
                sessions.c.id == session_id, sessions.c.workspace_id == workspace_id
            )
        )
        .mappings()
        .first()
    )


def is_busy(conn: sa.Connection, session_id: str) -> bool:
    """Whether a run of the session is queued, running or waiting."""
    query = sa.select(runs.c.id).where(
        runs.c.session_id == session_id, runs.c.status.in_(ACTIVE_STATUSES)
    )
    return conn.execute(query.limit(1)).first() is not None


def busy_among(conn: sa.Connection, session_ids: Sequence[str]) -> set[str]:
    """Which of the sessions have a run queued, running or waiting."""
    if not session_ids:
        return set()
    query = sa.select(runs.c.session_id).where(
        runs.c.session_id.in_(session_ids), runs.c.status.in_(ACTIVE_STATUSES)
    )
    return set(conn.execute(query.distinct()).scalars())


def list_page(
    conn: sa.Connection,
    workspace_id: str,
    *,
    limit: int,
    before_id: str | None = None,
    include_archived: bool = True,
) -> list[sa.RowMapping]:
    """Sessions newest first."""
    query = sa.select(*_SHOWN).where(sessions.c.workspace_id == workspace_id)
    if before_id is not None:
        query = query.where(sessions.c.id < before_id)
    if not include_archived:
        query = query.where(sessions.c.archived_at.is_(None))
    return list(conn.execute(query.order_by(sessions.c.id.desc()).limit(limit)).mappings())


def next_position(conn: sa.Connection, session_id: str, now: datetime) -> int | None:
    """Reserve the position of the session's next run (runs execute in this order).

    None when the session has ended: checked under the row's lock, so a message racing the
    session's end never lands in an ended session.
    """
    position = conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
        .values(last_position=sessions.c.last_position + 1, updated_at=now)
        .returning(sessions.c.last_position)
    ).scalar_one_or_none()
    return None if position is None else int(position)


def end(conn: sa.Connection, session_id: str, now: datetime) -> None:
    """Mark the session ended."""
    conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now, updated_at=now, api_keys=None)
    )


def archive(conn: sa.Connection, session_id: str, now: datetime) -> None:
    """Mark the ended session archived, unless it already is (the first time is kept)."""
    conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id, sessions.c.archived_at.is_(None))
        .values(archived_at=now, updated_at=now)
    )


def spend_cap(
    conn: sa.Connection, workspace_id: str, session_id: str, run_id: str
) -> tuple[float, float] | None:
    """The session's spend cap and what its runs but `run_id` spent; None without a cap."""
    cap = conn.execute(
        sa.select(sessions.c.max_spend_usd).where(sessions.c.id == session_id)
    ).scalar_one_or_none()
    if cap is None:
        return None
    spent = usage_store.spent(conn, workspace_id, session_id=session_id, excluding_run=run_id)
    return float(cap), spent


def change(
    conn: sa.Connection, workspace_id: str, session_id: str, values: dict[str, Any], now: datetime
) -> bool:
    """Change a session that has not ended (spend cap, title, metadata); False if there is none."""
    result = conn.execute(
        sessions.update()
        .where(
            sessions.c.id == session_id,
            sessions.c.workspace_id == workspace_id,
            sessions.c.ended_at.is_(None),
        )
        .values(**values, updated_at=now)
    )
    return result.rowcount == 1


def messages(conn: sa.Connection, session_id: str) -> list[dict[str, Any]]:
    """The remembered conversation, in order."""
    rows = conn.execute(
        sa.select(session_messages.c.message)
        .where(session_messages.c.session_id == session_id)
        .order_by(session_messages.c.position)
    ).scalars()
    return list(rows)


def append_messages(
    conn: sa.Connection,
    session_id: str,
    run_id: str,
    new_messages: Sequence[dict[str, Any]],
    now: datetime,
) -> None:
    """Append a completed run's turns to the session's conversation."""
    if not new_messages:
        return
    last = conn.execute(
        sa.select(sa.func.max(session_messages.c.position)).where(
            session_messages.c.session_id == session_id
        )
    ).scalar()
    start = (last or 0) + 1
    conn.execute(
        session_messages.insert(),
        [
            {
                "session_id": session_id,
                "position": start + offset,
                "message": message,
                "run_id": run_id,
                "created_at": now,
            }
            for offset, message in enumerate(new_messages)
        ],
    )


_KEPT_SUMMARIES = 2


def _last_writer(conn: sa.Connection, session_id: str, covers: int) -> str | None:
    """The run that added the session's `covers`-th message, if it is stored."""
    return conn.execute(
        sa.select(session_messages.c.run_id).where(
            session_messages.c.session_id == session_id, session_messages.c.position == covers
        )
    ).scalar_one_or_none()


def _holds(conn: sa.Connection, session_id: str, stored: dict[str, Any]) -> bool:
    """Whether a stored summary covers messages the session has.

    It does when the last message it covers was added by the run it names: a run that failed
    (or was cancelled) added none of its messages, and others may since stand in their place.
    """
    return _last_writer(conn, session_id, int(stored["covers"])) == str(stored["run_id"])


def summary(conn: sa.Connection, session_id: str) -> Summary | None:
    """The latest summary of the session's first messages that holds, if any."""
    stored = conn.execute(
        sa.select(sessions.c.context_summary).where(sessions.c.id == session_id)
    ).scalar_one_or_none()
    for candidate in stored or ():
        if _holds(conn, session_id, candidate):
            return Summary(str(candidate["text"]), int(candidate["covers"]))
    return None


def keep_summary(
    conn: sa.Connection, session_id: str, kept: Summary, *, run_id: str, history: int
) -> None:
    """Remember the summary a run of the session made, for the session's next runs.

    It may cover messages of the run itself (past its `history`), which the session holds
    only once the run completes: until then the summary is tagged with the run, and the latest
    one that already held is kept beside it, in case the run fails.
    """
    writer = run_id if kept.covers > history else _last_writer(conn, session_id, kept.covers)
    if writer is None:
        return
    stored = conn.execute(
        sa.select(sessions.c.context_summary).where(sessions.c.id == session_id)
    ).scalar_one_or_none()
    fallback = [c for c in stored or () if _holds(conn, session_id, c)][: _KEPT_SUMMARIES - 1]
    newest = {"text": kept.text, "covers": kept.covers, "run_id": writer}
    conn.execute(
        sessions.update()
        .where(sessions.c.id == session_id)
        .values(context_summary=[newest, *fallback])
    )
