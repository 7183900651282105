"""A turn's calls that start subagents or wait for them.

Calls of an agent tool and of `subagent` start a child run each (`start_children`): once per
call, however often the turn is resumed, since the child's row is unique per parent call. A
`subagent` call answers at once with the child's id; an agent tool's call, and a
`subagent_result` call, wait for their child's end (`collect`). While any awaited child runs,
the run parks like a run awaiting approvals: it holds no worker, and a child's ending queues it
again. Unlike approvals, the time parked counts against the run's timeout, and its deadline
wakes it to time out (which ends its children too).
"""

from __future__ import annotations

from dataclasses import replace

import orjson

from corral.domain import events
from corral.domain.conversation import ToolResult
from corral.domain.run_spec import parse_run_spec
from corral.domain.subagents import ChildRequest, Refusal, child_outcome
from corral.domain.tool_calls import CallKind, PendingCall
from corral.runtime.approvals import Parked
from corral.runtime.context import RunContext
from corral.storage.lineage import Child
from corral.tools.base import bound_output
from corral.types.runs import TERMINAL_STATUSES

__all__ = ["collect", "start_children"]


def _open(ctx: RunContext) -> list[PendingCall]:
    """The turn's child calls without a result yet."""
    done = {result.call_id for result in ctx.state.results}
    return [
        call
        for call in ctx.state.pending
        if call.kind is CallKind.CHILD and call.call_id not in done and call.error is None
    ]


async def start_children(ctx: RunContext) -> None:
    """Start the child of every call that starts one; answer `subagent` calls with its id.

    A call refused (by a policy, a person or its bad arguments) starts nothing: it is answered
    with its error like any server call.
    """
    ctx.state.pending = [
        _failed(call, call.error) if call.kind is CallKind.CHILD and call.error else call
        for call in ctx.state.pending
    ]
    changed = False
    asked: list[tuple[PendingCall, ChildRequest]] = []
    for call in _open(ctx):
        if call.child_run is not None:
            continue
        changed = True
        if ctx.tools.awaits_child(call.name):
            target = call.input.get("run_id")
            if isinstance(target, str) and target:
                _replace(ctx, replace(call, child_run=target))
            else:
                _replace(ctx, _failed(call, "'run_id' must be the id of a subagent run"))
            continue
        request = ctx.tools.child_request(call.name, call.input)
        if isinstance(request, Refusal):
            _replace(ctx, _failed(call, request.text()))
        else:
            asked.append((call, request))
    if asked:
        # The stored spec: the one in use has the run's secrets filled in.
        stored = parse_run_spec(ctx.run.spec)
        requests = [(call.call_id, request) for call, request in asked]
        outcomes = await ctx.lineage.start(ctx.run, stored, requests)
        for call, request in asked:
            _started(ctx, call, request, outcomes[call.call_id])
    if changed:
        await ctx.save()


def _started(
    ctx: RunContext, call: PendingCall, request: ChildRequest, outcome: Child | Refusal
) -> None:
    """Record how starting the call's child went: its id, or the call's error."""
    if isinstance(outcome, Refusal):
        _replace(ctx, _failed(call, outcome.text()))
        return
    ctx.spawned = True
    ctx.emit_checkpointed(
        events.SubagentStarted(
            call_id=call.call_id,
            name=call.name,
            child_run_id=outcome.id,
            agent=request.agent.agent_id if request.agent is not None else None,
            depth=ctx.run.depth + 1,
        )
    )
    _replace(ctx, replace(call, child_run=outcome.id))
    if not request.awaited:
        answer = {"run_id": outcome.id, "status": outcome.status.value}
        ctx.state.results.append(ToolResult(call.call_id, call.name, orjson.dumps(answer).decode()))


async def collect(ctx: RunContext) -> None:
    """Take the answers of the awaited children that ended; park while any still runs."""
    waiting = [call for call in _open(ctx) if call.child_run is not None]
    if not waiting:
        return
    ids = {call.child_run for call in waiting if call.child_run is not None}
    found = {child.id: child for child in await ctx.lineage.children(ctx.run.id, ids)}
    running: list[PendingCall] = []
    answered = False
    for call in waiting:
        assert call.child_run is not None
        child = found.get(call.child_run)
        if child is None:
            ctx.state.results.append(
                _error_result(call, f"there is no subagent run {call.child_run!r} of this run")
            )
            answered = True
        elif child.status in TERMINAL_STATUSES:
            ctx.state.results.append(_answer(ctx, call, child))
            answered = True
        else:
            running.append(call)
    if answered:
        await ctx.save()
    if running:
        # An agent tool's child is stored awaited; one a `subagent` call started is not yet.
        later = [c.child_run for c in running if c.child_run and ctx.tools.awaits_child(c.name)]
        if later:
            await ctx.lineage.await_children(ctx.run.id, later)
        await ctx.park((), ctx.deadline, paused=False, requeue=True)
        raise Parked(ctx.run.id)


def _answer(ctx: RunContext, call: PendingCall, child: Child) -> ToolResult:
    """The call's result from its child's end, announced in the run's log."""
    output, error = child_outcome(child.id, child.status, child.output, child.error)
    ctx.emit_checkpointed(
        events.SubagentCompleted(
            call_id=call.call_id,
            child_run_id=child.id,
            status=child.status.value,
            output=bound_output(child.output) if child.output is not None else None,
            error=child.error,
            input_tokens=child.input_tokens,
            output_tokens=child.output_tokens,
            cost_usd=child.cost_usd,
        )
    )
    if ctx.tools.awaits_child(call.name):
        answer = {"run_id": child.id, "status": child.status.value, "output": output}
        if error is not None:
            answer = {"run_id": child.id, "status": child.status.value, "error": error}
        text = orjson.dumps(answer).decode()
        return ToolResult(call.call_id, call.name, bound_output(text), is_error=error is not None)
    if error is not None:
        return _error_result(call, error)
    return ToolResult(call.call_id, call.name, bound_output(output or ""))


def _error_result(call: PendingCall, error: str) -> ToolResult:
    return ToolResult(call.call_id, call.name, bound_output(error), is_error=True)


def _failed(call: PendingCall, error: str) -> PendingCall:
    """A call that starts no child: answered at once with its error, like any server call."""
    return replace(call, kind=CallKind.SERVER, error=error)


def _replace(ctx: RunContext, updated: PendingCall) -> None:
    ctx.state.pending = [
        updated if call.call_id == updated.call_id else call for call in ctx.state.pending
    ]
