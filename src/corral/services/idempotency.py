"""Requests made safe to retry: the first answer for an `Idempotency-Key` is stored and replayed.

Run creation has its own, lighter mechanism (the key lives on the run); this one serves the other
creates: agents, sessions and client tool results.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from pydantic import BaseModel

from corral.context import ServiceContext
from corral.domain.runs import fingerprint
from corral.errors import Conflict, IdempotencyConflict, ServiceError
from corral.services.context import Principal
from corral.storage import idempotency as records
from corral.storage.database import Connection
from corral.storage.idempotency import IdempotencyRecord

Answer = tuple[int, str]
"""A status code and a JSON body."""


def _claim_or_replay(
    conn: Connection,
    workspace_id: str,
    key: str,
    operation: str,
    request_hash: str,
    now: Any,
) -> IdempotencyRecord | None:
    existing = records.find(conn, workspace_id, key)
    if existing is None:
        records.claim(
            conn,
            workspace_id=workspace_id,
            key=key,
            operation=operation,
            request_hash=request_hash,
            now=now,
        )
        return None
    if existing.operation != operation or existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "this idempotency key was used with a different request", field="Idempotency-Key"
        )
    if existing.status_code is None:
        raise Conflict(
            "a request with this idempotency key is still being answered; retry shortly",
            field="Idempotency-Key",
        )
    return existing


async def once(
    ctx: ServiceContext,
    principal: Principal,
    *,
    key: str | None,
    operation: str,
    request: Any,
    produce: Callable[[], Awaitable[tuple[int, BaseModel]]],
) -> Answer:
    """Answer the request, or replay the answer its key already got."""
    if key is None:
        status, model = await produce()
        return status, model.model_dump_json()
    request_hash = fingerprint({"operation": operation, "request": request})
    try:
        replay = await ctx.database.write(
            _claim_or_replay, principal.workspace_id, key, operation, request_hash, ctx.clock()
        )
    except Conflict as conflict:
        if isinstance(conflict, IdempotencyConflict) or conflict.field:
            raise
        replay = await ctx.database.read(records.find, principal.workspace_id, key)
        if replay is None or replay.status_code is None:
            raise
    if replay is not None:
        return replay.status_code or 200, replay.body or ""
    try:
        status, model = await produce()
    except ServiceError:
        await ctx.database.write(records.release, principal.workspace_id, key)
        raise
    body = model.model_dump_json()
    await ctx.database.write(
        records.complete, principal.workspace_id, key, status_code=status, body=body
    )
    return status, body
