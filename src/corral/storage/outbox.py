"""The outbox of outbound webhooks: queueing a delivery in the transaction of its event.

A run's events are queued by `enqueue` (or, on PostgreSQL, by `outbox_cte` inside the
one-statement append of `storage.events`), so a delivery exists exactly when its event does. An
event kept in no run's log (a routine's) is queued with its document by `enqueue_document`.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
import sqlalchemy as sa

from corral.domain.webhooks import EVENT_TYPES, DeliveryStatus, message_id
from corral.storage.tables import runs
from corral.storage.tables_webhooks import webhook_deliveries, webhook_subscriptions, webhooks

__all__ = ["enqueue", "enqueue_document", "outbox_cte", "wanted"]

_D = webhook_deliveries

_OUTBOX_COLUMNS = [
    "webhook_id",
    "message_id",
    "workspace_id",
    "event_type",
    "run_id",
    "seq",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
]
"""What a queued delivery is made of, in the order both ways of queueing select it."""

_ENQUEUE = _D.insert().from_select(
    _OUTBOX_COLUMNS,
    sa.select(
        webhook_subscriptions.c.webhook_id,
        sa.bindparam("b_message_id", type_=sa.String),
        webhook_subscriptions.c.workspace_id,
        webhook_subscriptions.c.event_type,
        sa.bindparam("b_run_id", type_=sa.String),
        sa.bindparam("b_seq", type_=sa.Integer),
        sa.literal(DeliveryStatus.PENDING),
        sa.literal(0),
        sa.bindparam("b_now", type_=_D.c.created_at.type),
        sa.bindparam("b_now2", type_=_D.c.created_at.type),
    )
    .join(webhooks, webhooks.c.id == webhook_subscriptions.c.webhook_id)
    .where(
        webhook_subscriptions.c.workspace_id
        == sa.select(runs.c.workspace_id)
        .where(runs.c.id == sa.bindparam("b_run_id"))
        .scalar_subquery(),
        webhook_subscriptions.c.event_type == sa.bindparam("b_type"),
        webhooks.c.disabled_at.is_(None),
    ),
)


def outbox_cte(
    run_id: sa.BindParameter[str],
    seq: sa.ColumnElement[int],
    event_type: sa.ColumnElement[str],
    workspace_id: sa.ColumnElement[str],
    now: sa.BindParameter[datetime],
    source: sa.FromClause,
) -> sa.CTE:
    """`enqueue` as part of PostgreSQL's one-statement append (`events.commit`).

    `source` holds a row per new event with its seq, type and run's workspace; the CTE returns
    a row per delivery queued.
    """
    rows = (
        sa.select(
            webhook_subscriptions.c.webhook_id,
            sa.literal("msg_") + run_id + sa.literal("_") + sa.cast(seq, sa.Text),
            webhook_subscriptions.c.workspace_id,
            event_type,
            run_id,
            seq,
            sa.literal(DeliveryStatus.PENDING),
            sa.literal(0),
            now,
            now,
        )
        .select_from(source)
        .join(
            webhook_subscriptions,
            sa.and_(
                webhook_subscriptions.c.workspace_id == workspace_id,
                webhook_subscriptions.c.event_type == event_type,
            ),
        )
        .join(
            webhooks,
            sa.and_(
                webhooks.c.id == webhook_subscriptions.c.webhook_id,
                webhooks.c.disabled_at.is_(None),
            ),
        )
    )
    return _D.insert().from_select(_OUTBOX_COLUMNS, rows).returning(_D.c.message_id).cte("outbox")


def wanted(event_types: Sequence[str]) -> bool:
    """Whether an endpoint could want any of these events (the others skip the outbox)."""
    return any(event_type in EVENT_TYPES for event_type in event_types)


def enqueue(
    conn: sa.Connection, run_id: str, logged: Sequence[tuple[int, str]], now: datetime
) -> int:
    """Put the events an endpoint of the run's workspace wants in the outbox; how many went."""
    params = [
        {
            "b_message_id": message_id(run_id, seq),
            "b_run_id": run_id,
            "b_seq": seq,
            "b_type": event_type,
            "b_now": now,
            "b_now2": now,
        }
        for seq, event_type in logged
        if event_type in EVENT_TYPES
    ]
    return sum(conn.execute(_ENQUEUE, one).rowcount for one in params)


def enqueue_document(
    conn: sa.Connection,
    workspace_id: str,
    event_type: str,
    message: str,
    document: dict[str, Any],
    now: datetime,
) -> int:
    """Queue an event kept in no run's log (a routine's) for the endpoints that want it.

    Returns how many deliveries were queued.
    """
    rows = (
        sa.select(
            webhook_subscriptions.c.webhook_id,
            sa.literal(message),
            webhook_subscriptions.c.workspace_id,
            webhook_subscriptions.c.event_type,
            sa.literal(orjson.dumps(document).decode()),
            sa.literal(DeliveryStatus.PENDING),
            sa.literal(0),
            sa.literal(now, _D.c.created_at.type),
            sa.literal(now, _D.c.created_at.type),
        )
        .join(
            webhooks,
            sa.and_(
                webhooks.c.id == webhook_subscriptions.c.webhook_id,
                webhooks.c.disabled_at.is_(None),
            ),
        )
        .where(
            webhook_subscriptions.c.workspace_id == workspace_id,
            webhook_subscriptions.c.event_type == event_type,
        )
    )
    columns = [
        "webhook_id",
        "message_id",
        "workspace_id",
        "event_type",
        "document",
        "status",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    return int(conn.execute(_D.insert().from_select(columns, rows)).rowcount)
