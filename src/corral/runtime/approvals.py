"""Tool calls a permission policy holds for a person: asked for, waited on, decided.

A turn's calls are classified under the run's permissions (`classify`). When some are held
(`ask`), the run logs an `approval.requested` for each, records the approvals and lets go of
its worker in one transaction (`RunContext.park`), and its task ends (`Parked`): a run may wait
for days holding nothing but rows. The last decision queues it again; the worker that claims it
reads the decisions (`settle`) and carries on with the turn's calls: allowed ones run (with the
arguments the approver gave, if any), denied ones answer the model with the approver's message.
A run whose approval times out is claimed at that time and fails with `approval_timeout`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from corral.domain.event_log import format_time, parse_time
from corral.domain.events import ApprovalRequested
from corral.domain.permissions import Policy
from corral.domain.tool_calls import CallKind, PendingCall
from corral.errors import ApprovalTimeout
from corral.ids import new_id
from corral.runtime.context import RunContext
from corral.storage import approvals as approval_store
from corral.types.permissions import ApprovalStatus

__all__ = ["Parked", "classify", "resumed", "settle"]


class Parked(Exception):
    """The run waits for decisions holding no worker: its task ends here, without an ending."""


def classify(ctx: RunContext, call: PendingCall) -> PendingCall:
    """The call under the run's permissions: as it was, refused, or held for a person."""
    if call.kind is CallKind.CLIENT or call.error is not None:
        return call
    server = ctx.tools.mcp_server_of(call.name)
    verdict = ctx.spec.permissions.decide(call.name, call.input, server=server)
    if verdict.policy is Policy.DENY:
        return call.denied(
            f"the run's permission policy ({verdict.source}) does not allow this call; it did "
            "not run"
        )
    if verdict.policy is Policy.ASK:
        return replace(call, asked=verdict.source)
    return call


def resumed(ctx: RunContext) -> None:
    """Count the time the run just spent parked out of its timeout."""
    state = ctx.state
    if state.parked_at is not None:
        waited = ctx.clock() - parse_time(state.parked_at)
        state.paused_s += max(waited.total_seconds(), 0.0)
        state.parked_at = None


async def settle(ctx: RunContext) -> None:
    """Apply the decisions on the turn's held calls; park the run while any is undecided."""
    held = {call.call_id: call for call in ctx.state.pending if call.asked is not None}
    if not held:
        return
    database = ctx.services.database
    logged = ctx.journal.decisions
    if held.keys() <= logged.keys():
        # The usual way back: every decision is in the log the run read when it was claimed.
        rows = {call_id: _from_event(logged[call_id]) for call_id in held}
    else:
        stored = await database.read(approval_store.decisions_of, ctx.run.id)
        rows = {call_id: row for call_id, row in stored.items() if call_id in held}
    if not rows:
        await _ask(ctx, list(held.values()))
    now = ctx.clock()
    if any(_expired(row, now) for row in rows.values()):
        await database.write(approval_store.expire, ctx.run.id, now)
        first = next(call for call in held.values() if _expired(rows[call.call_id], now))
        raise ApprovalTimeout(
            f"no one decided on the call of {first.name!r} ({first.call_id}) within "
            f"{ctx.spec.permissions.approval_timeout_s or 0:g} s"
        )
    undecided = [row for row in rows.values() if row["status"] == ApprovalStatus.PENDING]
    if undecided:
        await _park(ctx, (), _earliest(undecided))
    ctx.state.pending = [
        _decided(call, rows[call.call_id]) if call.call_id in held else call
        for call in ctx.state.pending
    ]


async def _ask(ctx: RunContext, calls: list[PendingCall]) -> None:
    """Log and record a request for each held call, and park the run."""
    now = ctx.clock()
    timeout_s = ctx.spec.permissions.approval_timeout_s
    expires_at = now + timedelta(seconds=timeout_s) if timeout_s else None
    run = ctx.run
    rows = []
    for call in calls:
        approval_id = new_id("apr")
        ctx.emit_checkpointed(
            ApprovalRequested(
                approval_id=approval_id,
                call_id=call.call_id,
                name=call.name,
                input=call.input,
                policy=call.asked or "default",
                expires_at=format_time(expires_at) if expires_at else None,
            )
        )
        rows.append(
            {
                "id": approval_id,
                "workspace_id": run.workspace_id,
                "run_id": run.id,
                "session_id": run.session_id,
                "agent_id": run.agent_id,
                "call_id": call.call_id,
                "tool": call.name,
                "input": call.input,
                "policy": call.asked or "default",
                "created_at": now,
                "expires_at": expires_at,
            }
        )
    await _park(ctx, rows, expires_at)


async def _park(ctx: RunContext, rows: Sequence[dict[str, Any]], wake_at: datetime | None) -> None:
    await ctx.park(rows, wake_at)
    raise Parked(ctx.run.id)


def _expired(row: dict[str, Any], now: datetime) -> bool:
    if row["status"] == ApprovalStatus.EXPIRED:
        return True
    due = row["expires_at"]
    return row["status"] == ApprovalStatus.PENDING and due is not None and due <= now


def _earliest(rows: list[dict[str, Any]]) -> datetime | None:
    due = [row["expires_at"] for row in rows if row["expires_at"] is not None]
    return min(due) if due else None


def _from_event(decided: dict[str, Any]) -> dict[str, Any]:
    """An `approval.decided` payload as the decision's row reads."""
    allowed = decided["decision"] == "allow"
    return {
        "status": ApprovalStatus.ALLOWED if allowed else ApprovalStatus.DENIED,
        "decided_input": decided.get("input"),
        "message": decided.get("message"),
        "expires_at": None,
    }


def _decided(call: PendingCall, row: dict[str, Any]) -> PendingCall:
    if row["status"] == ApprovalStatus.ALLOWED:
        return call.allowed(row["decided_input"])
    message = row["message"] or "no reason was given"
    return call.denied(f"a person denied this call, so it did not run: {message}")
