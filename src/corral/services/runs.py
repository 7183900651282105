"""Runs: submit, read, list, wait for, cancel and delete."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.errors import (
    Conflict,
    IdempotencyConflict,
    NotFound,
    RunActive,
)
from corral.observability import metrics
from corral.pubsub.base import ENDED, QUEUE_CHANNEL, run_channel
from corral.pubsub.notices import publish_stopped
from corral.services import agents as agent_service
from corral.services import auth, spend_caps, subagents
from corral.services import files as file_service
from corral.services.context import Principal
from corral.services.run_requests import (
    new_run_values,
    permissions_of,
    resolve_source,
    sealed_keys,
)
from corral.storage import approvals as approval_store
from corral.storage import events as event_log
from corral.storage import lineage
from corral.storage import runs as run_store
from corral.storage.database import Connection
from corral.storage.lineage import SubtreeUsage
from corral.storage.runs import RunRecord
from corral.types.common import Page
from corral.types.runs import (
    ACTIVE_STATUSES,
    TERMINAL_STATUSES,
    Run,
    RunCreateParams,
    RunStatus,
)

CANCEL_REASON = "cancelled by request"
_ByRun = dict[str, list[dict[str, Any]]]


def to_wire(
    record: RunRecord,
    pending_tool_calls: list[dict[str, Any]] | None = None,
    pending_approvals: list[dict[str, Any]] | None = None,
    total: SubtreeUsage | None = None,
) -> Run:
    """The run as the API shows it; `total` is its subtree's usage, if it started subagents."""
    return Run.model_validate(
        {
            "id": record.id,
            "status": record.status,
            "agent": record.agent_id,
            "agent_version": record.agent_version,
            "session": record.session_id,
            "model": record.model,
            "input": record.input,
            "output": record.output,
            "error": record.error,
            "usage": {
                "input_tokens": record.input_tokens,
                "output_tokens": record.output_tokens,
                "cost_usd": record.cost_usd,
            },
            "metadata": record.metadata,
            "pending_tool_calls": pending_tool_calls or [],
            "pending_approvals": pending_approvals or [],
            "parent_run": record.parent_run_id,
            "root_run": record.root_run_id,
            "depth": record.depth,
            "subagents": record.children,
            "total_usage": (
                None
                if total is None
                else {
                    "input_tokens": total.input_tokens,
                    "output_tokens": total.output_tokens,
                    "cost_usd": total.cost_usd,
                }
            ),
            "created_at": record.created_at,
            "started_at": record.started_at,
            "ended_at": record.ended_at,
        }
    )


async def create(
    ctx: ServiceContext,
    principal: Principal,
    params: RunCreateParams,
    *,
    idempotency_key: str | None = None,
) -> tuple[Run, bool]:
    """Submit a run; returns it and whether it was created (False: an idempotent replay).

    Runs in a session go through `sessions.send` instead.
    """
    key = params.idempotency_key or idempotency_key
    # Provider keys are left out of the fingerprint: a retry with a rotated key is the same run.
    request = params.model_dump(mode="json", exclude={"idempotency_key", "api_keys"})
    request_hash = run_rules.fingerprint(request) if key else None
    if key:
        replay = await _replay(ctx, principal, key, request_hash)
        if replay is not None:
            return replay, False
    await file_service.check_run_files(ctx, principal, params)
    tools = [tool.model_dump(mode="json") for tool in params.tools]
    source = await resolve_source(
        ctx,
        principal,
        agent=params.agent,
        agent_version=params.agent_version,
        agent_spec=params.agent_spec,
        run_tools=tools,
        environment=(
            params.environment.model_dump(mode="json", exclude_unset=True)
            if params.environment is not None
            else None
        ),
        permissions=permissions_of(params.permissions),
    )
    files, skills = file_service.run_inputs(params)
    source = replace(
        source, spec=replace(source.spec, files=files, skills=(*source.spec.skills, *skills))
    )
    await spend_caps.check_submit(ctx, principal, model=source.spec.model, agent_id=source.agent_id)
    values = new_run_values(
        ctx,
        principal,
        source,
        run_input=request["input"],
        metadata=params.metadata,
        idempotency_key=key,
        request_hash=request_hash,
    )
    values["api_keys"] = await sealed_keys(ctx, principal, source.spec, params.api_keys)
    try:
        await ctx.database.write_statement(run_store.insert, values)
    except Conflict:
        if key:
            replay = await _replay(ctx, principal, key, request_hash)
            if replay is not None:
                return replay, False
        raise
    await ctx.broker.publish(QUEUE_CHANNEL)
    metrics.RUNS_CREATED.inc()
    record = RunRecord(**{**_DEFAULTS, **values})
    return to_wire(record), True


_DEFAULTS: dict[str, Any] = {
    "session_position": None,
    "output": None,
    "error": None,
    "input_tokens": 0,
    "output_tokens": 0,
    "cost_usd": 0.0,
    "last_seq": 0,
    "lease_owner": None,
    "lease_expires_at": None,
    "attempts": 0,
    "checkpoint": None,
    "started_at": None,
    "ended_at": None,
    "api_keys": None,
}


def previous_run(
    conn: Connection, workspace_id: str, key: str, request_hash: str | None
) -> RunRecord | None:
    """The run an idempotency key already created, if the request is the same one."""
    existing = run_store.get_by_idempotency_key(conn, workspace_id, key)
    if existing is not None and existing.request_hash != request_hash:
        raise IdempotencyConflict(
            "this idempotency key was used with a different request", field="/idempotency_key"
        )
    return existing


async def _replay(
    ctx: ServiceContext, principal: Principal, key: str, request_hash: str | None
) -> Run | None:
    existing = await ctx.database.read(previous_run, principal.workspace_id, key, request_hash)
    return None if existing is None else await get(ctx, principal, existing.id)


async def find(ctx: ServiceContext, principal: Principal, run_id: str) -> RunRecord:
    """The run, or `NotFound` (also for another workspace's run).

    A run of a session is refused to a key without `sessions:read`.
    """
    record = await ctx.database.read(run_store.get, principal.workspace_id, run_id)
    if record is None:
        raise NotFound(f"no run {run_id!r}")
    auth.require_session_scope(principal, record.session_id, "sessions:read")
    return record


async def get(ctx: ServiceContext, principal: Principal, run_id: str) -> Run:
    """The run as it stands."""
    return await view(ctx, await find(ctx, principal, run_id))


async def view(ctx: ServiceContext, record: RunRecord) -> Run:
    """A found run's record as the wire run, with the calls it waits for."""
    if record.status != RunStatus.WAITING and not record.children:
        return to_wire(record)
    return (await _wire_page(ctx, [record]))[0]


async def _wire_page(ctx: ServiceContext, records: list[RunRecord]) -> list[Run]:
    """Records as wire runs, with what the waiting ones wait for and the parents' totals."""
    waiting = [r.id for r in records if r.status == RunStatus.WAITING]
    parents = [r.id for r in records if r.children]
    if not waiting and not parents:
        return [to_wire(record) for record in records]
    calls, approvals, totals = await ctx.database.read(_around, waiting, parents)
    return [to_wire(r, calls.get(r.id), approvals.get(r.id), totals.get(r.id)) for r in records]


def _around(
    conn: Connection, waiting: list[str], parents: list[str]
) -> tuple[_ByRun, _ByRun, dict[str, SubtreeUsage]]:
    """The client tool calls and approvals these runs wait for; what these parents' trees used."""
    if not waiting:
        return {}, {}, lineage.subtree_usage(conn, parents)
    return (
        run_store.pending_tool_calls_of(conn, waiting),
        approval_store.pending_of(conn, waiting),
        lineage.subtree_usage(conn, parents),
    )


async def list_runs(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    status: RunStatus | None,
    agent: str | None,
    session: str | None,
    metadata: list[tuple[str, str]],
    parent_run: str | None = None,
    root_run: str | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
) -> Page[Run]:
    """Runs newest first, filtered; without `sessions:read`, only runs outside sessions."""
    created_after, created_before = run_rules.creation_range(created_after, created_before)
    may_read_sessions = auth.allows(principal, "sessions:read")
    if not may_read_sessions:
        auth.require_session_scope(principal, session, "sessions:read")
    agent_id = None if agent is None else await agent_service.filter_id(ctx, principal, agent)
    if agent is not None and agent_id is None:
        return Page(data=[], next_cursor=None)
    records = await ctx.database.read(
        run_store.list_page,
        principal.workspace_id,
        limit=limit + 1,
        before_id=cursor,
        status=status.value if status else None,
        agent_id=agent_id,
        session_id=session,
        has_session=None if may_read_sessions else False,
        metadata=metadata,
        parent_run_id=parent_run,
        root_run_id=root_run,
        created_after=created_after,
        created_before=created_before,
    )
    records, more = records[:limit], len(records) > limit
    page = await _wire_page(ctx, records)
    return Page(data=page, next_cursor=page[-1].id if more else None)


async def wait(ctx: ServiceContext, principal: Principal, run_id: str, timeout_s: float) -> Run:
    """The run once it has ended, or as it stands after `timeout_s`."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    with ctx.broker.subscribe(run_channel(run_id)) as subscription:
        while True:
            # The status alone is much cheaper to read than the whole run.
            status = await ctx.database.read(
                run_store.get_status_in, principal.workspace_id, run_id
            )
            if status is None:
                raise NotFound(f"no run {run_id!r}")
            left = deadline - loop.time()
            if status in TERMINAL_STATUSES or left <= 0:
                return await get(ctx, principal, run_id)
            # A notice of new events says the run has not ended: only the end's notice, or a
            # silence as long as the resync interval (a notice may be lost), needs a read.
            notices = await subscription.wait(min(left, ctx.settings.resync_s))
            while notices and ENDED not in notices and (left := deadline - loop.time()) > 0:
                notices = await subscription.wait(min(left, ctx.settings.resync_s))
            if ENDED in notices:
                return await get(ctx, principal, run_id)


def _cancel_tx(
    conn: Connection, workspace_id: str, run_id: str, reason: str, now: Any
) -> tuple[RunRecord | None, event_log.Committed | None]:
    """Cancel the run; a subagent's parent that waits for nothing more is queued again."""
    record = run_store.get(conn, workspace_id, run_id)
    if record is None or record.is_terminal:
        return record, None
    ending = run_rules.end(record.status, RunStatus.CANCELLED, now=now, reason=reason)
    committed = event_log.commit(
        conn, run_id=run_id, events=[ending.event.entry()], now=now, values=ending.values
    )
    parent = record.parent_run_id
    if committed is not None and parent is not None and lineage.wake_parent(conn, parent):
        committed = replace(committed, requeued=True)
    return record, committed


async def cancel(
    ctx: ServiceContext, principal: Principal, run_id: str, *, reason: str = CANCEL_REASON
) -> Run:
    """End the run `cancelled` now (idempotent; an ended run keeps its status)."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:write")
    record, committed = await ctx.database.write(
        _cancel_tx, principal.workspace_id, run_id, reason, ctx.clock()
    )
    if record is None:
        raise NotFound(f"no run {run_id!r}")
    if committed is not None:
        metrics.RUNS_ENDED.labels(RunStatus.CANCELLED.value).inc()
        await publish_stopped(ctx.broker, run_id, committed)
        if committed.requeued:
            await ctx.broker.publish(QUEUE_CHANNEL)
    if record.children:
        await subagents.end_descendants(ctx, run_id, f"the run {run_id} above it was cancelled")
    return await get(ctx, principal, run_id)


async def delete(ctx: ServiceContext, principal: Principal, run_id: str) -> None:
    """Delete an ended run and its events, with every subagent below it."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:write")
    record = await find(ctx, principal, run_id)
    if record.status in ACTIVE_STATUSES:
        raise RunActive(f"run {run_id} is {record.status}; cancel it before deleting it")
    if not await ctx.database.write(_delete_tx, principal.workspace_id, record):
        raise NotFound(f"no run {run_id!r}")


def _delete_tx(conn: Connection, workspace_id: str, record: RunRecord) -> bool:
    """Delete the run and its subtree, all or none (a subagent still active: `RunActive`)."""
    below = lineage.subtree_ids(conn, record.id) if record.children else []
    for run_id in (run_id for run_id in below if run_id != record.id):
        if not run_store.delete_ended(conn, workspace_id, run_id):
            raise RunActive(
                f"the subagent run {run_id} of run {record.id} has not ended; cancel it first"
            )
    return run_store.delete_ended(conn, workspace_id, record.id)
