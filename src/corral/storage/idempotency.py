"""Idempotency records: the stored answer of a request sent with an `Idempotency-Key`."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from corral.storage.tables import idempotency_records as records


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """A key's request and, once answered, its response."""

    operation: str
    request_hash: str
    status_code: int | None
    body: str | None


def find(conn: sa.Connection, workspace_id: str, key: str) -> IdempotencyRecord | None:
    """The record of `key`, if the workspace used it before."""
    row = conn.execute(
        sa.select(
            records.c.operation, records.c.request_hash, records.c.status_code, records.c.body
        ).where(records.c.workspace_id == workspace_id, records.c.key == key)
    ).first()
    return IdempotencyRecord(*row) if row else None


def claim(
    conn: sa.Connection,
    *,
    workspace_id: str,
    key: str,
    operation: str,
    request_hash: str,
    now: datetime,
) -> None:
    """Record that the request of `key` is being answered."""
    conn.execute(
        records.insert().values(
            workspace_id=workspace_id,
            key=key,
            operation=operation,
            request_hash=request_hash,
            created_at=now,
        )
    )


def complete(
    conn: sa.Connection, workspace_id: str, key: str, *, status_code: int, body: str
) -> None:
    """Store the response, to be replayed for a retry."""
    conn.execute(
        records.update()
        .where(records.c.workspace_id == workspace_id, records.c.key == key)
        .values(status_code=status_code, body=body)
    )


def release(conn: sa.Connection, workspace_id: str, key: str) -> None:
    """Forget a key whose request failed, so it can be sent again."""
    conn.execute(
        records.delete().where(records.c.workspace_id == workspace_id, records.c.key == key)
    )


def expire(conn: sa.Connection, *, before: datetime) -> int:
    """Forget keys used before `before`; returns how many."""
    return conn.execute(records.delete().where(records.c.created_at < before)).rowcount
