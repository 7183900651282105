"""Outbound webhook endpoints and their outbox of deliveries.

`enqueue` runs inside the transaction that logs an event, so a delivery exists exactly when its
event does. Senders lease due deliveries (`claim_due`): PostgreSQL skips the rows another sender
holds, SQLite serialises writers; a sender that dies lets its leases lapse and another takes
them over, so a delivery may be sent twice, always under the same `webhook-id`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from corral.domain.webhooks import DeliveryStatus
from corral.storage.tables import run_events as events
from corral.storage.tables import runs
from corral.storage.tables_webhooks import webhook_deliveries, webhook_subscriptions, webhooks

__all__ = [
    "Due",
    "claim_due",
    "deliveries",
    "drop",
    "get",
    "insert",
    "listed",
    "record_attempt",
    "remove",
    "resend",
    "update",
]

_D = webhook_deliveries


def insert(conn: sa.Connection, row: dict[str, Any], event_types: Sequence[str]) -> None:
    """Store an endpoint and the event types it wants."""
    conn.execute(webhooks.insert(), row)
    _subscribe(conn, row["id"], row["workspace_id"], event_types)


def _subscribe(
    conn: sa.Connection, webhook_id: str, workspace_id: str, event_types: Sequence[str]
) -> None:
    conn.execute(
        webhook_subscriptions.delete().where(webhook_subscriptions.c.webhook_id == webhook_id)
    )
    if event_types:
        conn.execute(
            webhook_subscriptions.insert(),
            [
                {"webhook_id": webhook_id, "event_type": t, "workspace_id": workspace_id}
                for t in sorted(set(event_types))
            ],
        )


def _with_types(conn: sa.Connection, rows: Sequence[Any]) -> list[dict[str, Any]]:
    ids = [row.id for row in rows]
    types: dict[str, list[str]] = {webhook_id: [] for webhook_id in ids}
    if ids:
        found = conn.execute(
            sa.select(webhook_subscriptions.c.webhook_id, webhook_subscriptions.c.event_type)
            .where(webhook_subscriptions.c.webhook_id.in_(ids))
            .order_by(webhook_subscriptions.c.event_type)
        )
        for webhook_id, event_type in found:
            types[webhook_id].append(event_type)
    return [{**row._asdict(), "event_types": types[row.id]} for row in rows]


def listed(conn: sa.Connection, workspace_id: str) -> list[dict[str, Any]]:
    """The workspace's endpoints, oldest first, with their event types."""
    rows = conn.execute(
        sa.select(webhooks).where(webhooks.c.workspace_id == workspace_id).order_by(webhooks.c.id)
    ).all()
    return _with_types(conn, rows)


def get(conn: sa.Connection, workspace_id: str, webhook_id: str) -> dict[str, Any] | None:
    """One endpoint of the workspace, with its event types."""
    row = conn.execute(
        sa.select(webhooks).where(
            webhooks.c.workspace_id == workspace_id, webhooks.c.id == webhook_id
        )
    ).first()
    return _with_types(conn, [row])[0] if row else None


def update(
    conn: sa.Connection,
    workspace_id: str,
    webhook_id: str,
    values: dict[str, Any],
    event_types: Sequence[str] | None,
) -> bool:
    """Change an endpoint (and, given, its event types); False when there is no such one."""
    found = conn.execute(
        webhooks.update()
        .where(webhooks.c.workspace_id == workspace_id, webhooks.c.id == webhook_id)
        .values(**values)
        if values
        else sa.select(webhooks.c.id).where(
            webhooks.c.workspace_id == workspace_id, webhooks.c.id == webhook_id
        )
    )
    if (found.rowcount if values else len(found.all())) != 1:
        return False
    if event_types is not None:
        _subscribe(conn, webhook_id, workspace_id, event_types)
    return True


def remove(conn: sa.Connection, workspace_id: str, webhook_id: str) -> bool:
    """Delete an endpoint with its deliveries."""
    deleted = conn.execute(
        webhooks.delete().where(
            webhooks.c.workspace_id == workspace_id, webhooks.c.id == webhook_id
        )
    )
    return deleted.rowcount == 1


@dataclass(frozen=True, slots=True)
class Due:
    """A delivery to attempt now, with what it needs to be sent."""

    webhook_id: str
    message_id: str
    event_type: str
    attempts: int
    url: str
    secret: str
    """Sealed."""
    format: str
    """How the endpoint's messages are written (`domain.webhook_formats`)."""
    workspace_id: str
    event: str | None
    """The event's JSON, or None if its run was deleted since."""
    session_id: str | None = None
    """The session of the event's run, if it has one."""


def claim_due(conn: sa.Connection, *, now: datetime, lease_s: float, limit: int) -> list[Due]:
    """Lease up to `limit` deliveries due now; each claim counts as an attempt."""
    due = (
        sa.select(_D.c.webhook_id, _D.c.message_id)
        .join(webhooks, webhooks.c.id == _D.c.webhook_id)
        .where(
            _D.c.status == DeliveryStatus.PENDING,
            _D.c.next_attempt_at <= now,
            sa.or_(_D.c.lease_until.is_(None), _D.c.lease_until < now),
            webhooks.c.disabled_at.is_(None),  # held while the endpoint is off
        )
        .order_by(_D.c.next_attempt_at)
        .limit(limit)
    )
    if conn.dialect.name == "postgresql":
        due = due.with_for_update(skip_locked=True)
    claimed = conn.execute(
        _D.update()
        .where(sa.tuple_(_D.c.webhook_id, _D.c.message_id).in_(due))
        .values(lease_until=now + timedelta(seconds=lease_s), attempts=_D.c.attempts + 1)
        .returning(
            _D.c.webhook_id,
            _D.c.message_id,
            _D.c.event_type,
            _D.c.attempts,
            _D.c.run_id,
            _D.c.seq,
            _D.c.document,
            _D.c.workspace_id,
        )
    ).all()
    if not claimed:
        return []
    ids = {row.webhook_id for row in claimed}
    endpoints = {
        row.id: row
        for row in conn.execute(
            sa.select(webhooks.c.id, webhooks.c.url, webhooks.c.secret, webhooks.c.format).where(
                webhooks.c.id.in_(ids)
            )
        )
    }
    keys = [(row.run_id, row.seq) for row in claimed if row.run_id is not None]
    documents = {
        (row.run_id, row.seq): (row.data, row.session_id)
        for row in conn.execute(
            sa.select(events.c.run_id, events.c.seq, events.c.data, runs.c.session_id)
            .join(runs, runs.c.id == events.c.run_id)
            .where(sa.tuple_(events.c.run_id, events.c.seq).in_(keys))
        )
    }
    dues = []
    for row in claimed:
        endpoint = endpoints.get(row.webhook_id)
        if endpoint is None:
            continue
        event, session_id = (
            (row.document, None)
            if row.run_id is None
            else documents.get((row.run_id, row.seq), (None, None))
        )
        dues.append(
            Due(
                webhook_id=row.webhook_id,
                message_id=row.message_id,
                event_type=row.event_type,
                attempts=row.attempts,
                url=endpoint.url,
                secret=endpoint.secret,
                format=endpoint.format,
                workspace_id=row.workspace_id,
                event=event,
                session_id=session_id,
            )
        )
    return dues


def record_attempt(
    conn: sa.Connection,
    due: Due,
    *,
    now: datetime,
    status_code: int | None,
    error: str | None,
    retry_at: datetime | None,
    disable: bool = True,
) -> None:
    """The outcome of one attempt: delivered, to be retried at `retry_at`, or given up.

    Giving up disables the endpoint (unless not `disable`), with the reason.
    """
    key = sa.and_(_D.c.webhook_id == due.webhook_id, _D.c.message_id == due.message_id)
    values: dict[str, Any] = {
        "lease_until": None,
        "last_status_code": status_code,
        "last_error": error,
    }
    if error is None:
        values |= {"status": DeliveryStatus.DELIVERED, "delivered_at": now, "next_attempt_at": None}
    elif retry_at is not None:
        values |= {"next_attempt_at": retry_at}
    else:
        values |= {"status": DeliveryStatus.FAILED, "next_attempt_at": None}
    if error is not None and retry_at is None and disable:
        conn.execute(
            webhooks.update()
            .where(webhooks.c.id == due.webhook_id, webhooks.c.disabled_at.is_(None))
            .values(
                disabled_at=now,
                disabled_reason=f"every attempt of delivery {due.message_id} failed: {error}"[
                    :1000
                ],
            )
        )
    conn.execute(_D.update().where(key).values(**values))


def drop(conn: sa.Connection, due: Due) -> None:
    """Forget a delivery its endpoint's format has no message for: nothing is ever sent."""
    conn.execute(
        _D.delete().where(_D.c.webhook_id == due.webhook_id, _D.c.message_id == due.message_id)
    )


def deliveries(
    conn: sa.Connection,
    workspace_id: str,
    webhook_id: str,
    *,
    limit: int,
    message: str | None = None,
) -> list[dict[str, Any]]:
    """An endpoint's deliveries (or the one of `message`), newest first."""
    columns = [column for column in _D.c if column.name != "document"]
    query = sa.select(*columns).where(
        _D.c.workspace_id == workspace_id, _D.c.webhook_id == webhook_id
    )
    if message is not None:
        query = query.where(_D.c.message_id == message)
    rows = conn.execute(query.order_by(_D.c.created_at.desc(), _D.c.message_id.desc()).limit(limit))
    return [dict(row._mapping) for row in rows]


def resend(
    conn: sa.Connection, workspace_id: str, webhook_id: str, message: str, now: datetime
) -> bool:
    """Send a delivery again now, with a fresh schedule; False when there is no such one."""
    changed = conn.execute(
        _D.update()
        .where(
            _D.c.workspace_id == workspace_id,
            _D.c.webhook_id == webhook_id,
            _D.c.message_id == message,
        )
        .values(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=now,
            lease_until=None,
        )
    )
    return changed.rowcount == 1
