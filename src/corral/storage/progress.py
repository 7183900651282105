"""A run's progress, written in one transaction.

Its events, its state, the client tool calls and approvals it now waits for, and, when it ends,
its output files and (completing in a session) the turns the session remembers. A subagent's
ending wakes its parent (`wake`), and a run that parks to await its subagents goes straight
back to the queue if they have all ended already (`requeue`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from corral.storage import approvals as approval_store
from corral.storage import events as event_log
from corral.storage import files as file_store
from corral.storage import lineage
from corral.storage import sessions as session_store
from corral.storage import tool_calls as tool_call_store
from corral.storage.events import Committed, Lease, NewEvent


def is_one_statement(
    dialect: str,
    *,
    new_tool_calls: Sequence[dict[str, Any]] = (),
    session_messages: Sequence[dict[str, Any]] = (),
    outputs: Sequence[tuple[str, bytes]] = (),
    new_approvals: Sequence[dict[str, Any]] = (),
    wake: str | None = None,
    requeue: bool = False,
) -> bool:
    """Whether `save` issues a single statement, so it may run without a transaction around it.

    On PostgreSQL the events and the run's values are one statement (`events.commit`); any tool
    call, session turn or output file adds one (the webhook outbox is part of the statement).
    """
    return dialect == "postgresql" and not (
        new_tool_calls or session_messages or outputs or new_approvals or wake or requeue
    )


def save(
    conn: sa.Connection,
    *,
    run_id: str,
    session_id: str | None,
    events: Sequence[NewEvent],
    now: datetime,
    owner: Lease,
    values: dict[str, Any],
    new_tool_calls: Sequence[dict[str, Any]] = (),
    session_messages: Sequence[dict[str, Any]] = (),
    outputs: Sequence[tuple[str, bytes]] = (),
    new_approvals: Sequence[dict[str, Any]] = (),
    wake: str | None = None,
    requeue: bool = False,
) -> Committed | None:
    """Commit everything or nothing; None when the worker no longer owns the run.

    `wake` is the parent of a subagent that ends; `requeue` asks to queue the run again at
    once if it parks waiting for nothing. `Committed.requeued` says whether either happened.
    """
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
    requeued = (wake is not None and lineage.wake_parent(conn, wake)) or (
        requeue and lineage.wake_parent(conn, run_id)
    )
    return replace(committed, requeued=True) if requeued else committed
