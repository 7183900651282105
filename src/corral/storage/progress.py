"""A run's progress, written in one transaction.

Its events, its state, the client tool calls and approvals it now waits for, and, when it ends,
its output files and (completing in a session) the turns the session remembers.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage import approvals as approval_store
from corral.storage import events as event_log
from corral.storage import files as file_store
from corral.storage import sessions as session_store
from corral.storage import tool_calls as tool_call_store
from corral.storage.events import Committed, NewEvent


def is_one_statement(
    dialect: str,
    *,
    new_tool_calls: Sequence[dict[str, Any]] = (),
    session_messages: Sequence[dict[str, Any]] = (),
    outputs: Sequence[tuple[str, bytes]] = (),
    new_approvals: Sequence[dict[str, Any]] = (),
) -> bool:
    """Whether `save` issues a single statement, so it may run without a transaction around it.

    On PostgreSQL the events and the run's values are one statement (`events.commit`); any tool
    call, session turn or output file adds one.
    """
    return dialect == "postgresql" and not (
        new_tool_calls or session_messages or outputs or new_approvals
    )


def save(
    conn: sa.Connection,
    *,
    run_id: str,
    session_id: str | None,
    events: Sequence[NewEvent],
    now: datetime,
    owner: str,
    values: dict[str, Any],
    new_tool_calls: Sequence[dict[str, Any]] = (),
    session_messages: Sequence[dict[str, Any]] = (),
    outputs: Sequence[tuple[str, bytes]] = (),
    new_approvals: Sequence[dict[str, Any]] = (),
) -> Committed | None:
    """Commit everything or nothing; None when the worker no longer owns the run."""
    committed = event_log.commit(
        conn, run_id=run_id, events=events, now=now, owner=owner, values=values
    )
    if committed is None:
        return None
    tool_call_store.insert_pending(conn, run_id, new_tool_calls, now)
    approval_store.insert(conn, new_approvals)
    if session_messages and session_id is not None:
        session_store.append_messages(conn, session_id, run_id, session_messages, now)
    if outputs:
        file_store.save_outputs(conn, run_id, outputs, now)
    return committed
