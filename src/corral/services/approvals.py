"""Approvals: a person allows or denies a held tool call, once; the inbox lists what waits.

A decision is applied exactly once. The same decision again answers with the approval as it
stands; the other decision is a 409 (`approval_conflict`), as is any decision after the
approval's time ran out (`approval_expired`). The run's log gets an `approval.decided`, and the
decision that leaves none of the run's approvals pending queues the run again, in the same
transaction.
"""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.domain.events import ApprovalDecided
from corral.errors import ApprovalConflict, ApprovalExpired, NotFound, RunTerminal
from corral.pubsub.base import QUEUE_CHANNEL
from corral.pubsub.notices import publish_appended
from corral.services import agents as agent_service
from corral.services import audit, auth
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import approvals as approval_store
from corral.storage import events as event_log
from corral.storage import runs as run_store
from corral.storage.database import Connection
from corral.types.common import Page
from corral.types.permissions import (
    Approval,
    ApprovalDecision,
    ApprovalDecisionParams,
    ApprovalStatus,
)

_DECIDED = {
    ApprovalDecision.ALLOW: ApprovalStatus.ALLOWED,
    ApprovalDecision.DENY: ApprovalStatus.DENIED,
}


def to_wire(row: dict[str, Any]) -> Approval:
    """A stored approval (with its run's metadata) as the API shows it."""
    return Approval(
        id=row["id"],
        run_id=row["run_id"],
        session_id=row["session_id"],
        agent=row["agent_id"],
        call_id=row["call_id"],
        tool=row["tool"],
        input=row["input"],
        policy=row["policy"],
        status=ApprovalStatus(row["status"]),
        decided_input=row["decided_input"],
        message=row["message"],
        decided_by=row["decided_by"],
        metadata=row["metadata"] or {},
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        decided_at=row["decided_at"],
    )


def _decide_tx(
    conn: Connection,
    actor: Actor,
    principal: Principal,
    run_id: str,
    call_id: str,
    params: ApprovalDecisionParams,
    now: Any,
) -> tuple[dict[str, Any], event_log.Committed | None, bool]:
    """(the approval, what its event appended, whether the run was queued again)."""
    wanted = _DECIDED[params.decision]
    message, decided_input = params.message, params.input  # each fits its decision
    values = {
        "status": wanted.value,
        "decided_by": principal.key_id,
        "message": message,
        "decided_input": decided_input,
    }
    # Decided at once when it can be, the usual case; otherwise the approval says why not.
    row = approval_store.decide(conn, principal.workspace_id, run_id, call_id, now, values)
    if row is None:
        return _undecided(conn, principal, run_id, call_id, wanted, now), None, False
    event = ApprovalDecided(
        approval_id=row["id"],
        call_id=call_id,
        decision=params.decision.value,
        decided_by=principal.key_id,
        message=message,
        input=decided_input,
    )
    committed = event_log.commit(conn, run_id=run_id, events=[event.entry()], now=now)
    audit.record(
        conn,
        actor,
        f"approval.{wanted.value}",
        workspace_id=principal.workspace_id,
        target_id=row["id"],
        now=now,
        details={"run_id": run_id, "call_id": call_id, "tool": row["tool"]},
    )
    requeued = run_store.requeue_parked(conn, run_id)
    return row, committed, requeued


def _undecided(
    conn: Connection,
    principal: Principal,
    run_id: str,
    call_id: str,
    wanted: ApprovalStatus,
    now: Any,
) -> dict[str, Any]:
    """The approval a decision could not be applied to, if it already bears that decision.

    Raises why not otherwise: no such approval, decided the other way, withdrawn or expired.
    """
    row = approval_store.get(conn, principal.workspace_id, run_id, call_id)
    if row is None:
        raise NotFound(f"run {run_id!r} has no approval for a call {call_id!r}")
    status = ApprovalStatus(row["status"])
    if status is wanted:
        return row
    if status in (ApprovalStatus.ALLOWED, ApprovalStatus.DENIED):
        raise ApprovalConflict(
            f"call {call_id} was already {status.value} (by {row['decided_by']})",
            field="/decision",
        )
    if status is ApprovalStatus.WITHDRAWN:
        raise RunTerminal(f"run {run_id} has ended; its calls wait for no decision")
    expired = row["expires_at"] is not None and row["expires_at"] <= now
    if status is ApprovalStatus.EXPIRED or expired:
        raise ApprovalExpired(
            f"the approval of call {call_id} expired at {row['expires_at']:%Y-%m-%dT%H:%M:%SZ}"
        )
    # Pending and open, yet missed by the update: not expected, answered as a race lost.
    raise ApprovalConflict(f"call {call_id} is being decided by another request")


async def decide(
    ctx: ServiceContext,
    actor: Actor,
    run_id: str,
    call_id: str,
    params: ApprovalDecisionParams,
) -> Approval:
    """Allow or deny a held call; the run goes on once all its held calls are decided.

    Each decision is in the audit log (`approval.allowed`, `approval.denied`).
    """
    principal = actor.principal
    assert principal is not None
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:write")
    row, committed, requeued = await ctx.database.write(
        _decide_tx, actor, principal, run_id, call_id, params, ctx.clock()
    )
    if committed is not None:
        await publish_appended(ctx.broker, run_id, committed)
    if requeued:
        await ctx.broker.publish(QUEUE_CHANNEL)
    return to_wire(row)


async def of_run(ctx: ServiceContext, principal: Principal, run_id: str) -> list[Approval]:
    """Every approval of a run, oldest first."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")
    if await ctx.database.read(run_store.get_status_in, principal.workspace_id, run_id) is None:
        raise NotFound(f"no run {run_id!r}")
    return [to_wire(row) for row in await ctx.database.read(approval_store.of_run, run_id)]


async def inbox(
    ctx: ServiceContext,
    principal: Principal,
    *,
    status: ApprovalStatus | None,
    agent: str | None,
    session: str | None,
    run: str | None,
    metadata: list[tuple[str, str]],
    limit: int,
    cursor: str | None,
) -> Page[Approval]:
    """The workspace's approvals, newest first (without `sessions:read`: no session's)."""
    may_read_sessions = auth.allows(principal, "sessions:read")
    if not may_read_sessions:
        auth.require_session_scope(principal, session, "sessions:read")
    agent_id = None if agent is None else await agent_service.filter_id(ctx, principal, agent)
    if agent is not None and agent_id is None:
        return Page(data=[], next_cursor=None)
    rows = await ctx.database.read(
        approval_store.listed,
        principal.workspace_id,
        status=status,
        agent_id=agent_id,
        session_id=session,
        run_id=run,
        metadata=metadata,
        outside_sessions=not may_read_sessions,
        before=cursor,
        limit=limit,
    )
    page = [to_wire(row) for row in rows[:limit]]
    return Page(data=page, next_cursor=page[-1].id if len(rows) > limit else None)
