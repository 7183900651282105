"""The agent loop: model turn → tool calls → checkpoint → next turn, until an answer.

`execute` drives one run from its last checkpoint to its end and always leaves it either ended
(exactly one terminal event) or untouched for another worker to resume.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import timedelta

from corral.domain import budgets, events
from corral.domain.conversation import ToolCall, ToolResult, tool_results_message
from corral.domain.events import Failure
from corral.domain.tool_calls import CallKind, PendingCall
from corral.errors import ClientToolTimeout, RunFailure, Unavailable
from corral.observability.logging import SECRETS_IN_USE
from corral.runtime import approvals, subagents
from corral.runtime.context import LeaseLost, RunContext
from corral.runtime.model_turn import model_turn
from corral.runtime.resume import logged_turn
from corral.runtime.tooling import CallOutput
from corral.storage import sessions as session_store
from corral.storage import tool_calls as tool_call_store
from corral.tools.base import bound_output
from corral.types.errors import ErrorCode
from corral.types.runs import RunStatus

logger = logging.getLogger(__name__)


async def execute(ctx: RunContext) -> None:
    """Run to the end, or until the run is no longer ours."""
    run_id = ctx.run.id
    approvals.resumed(ctx)
    started_at = ctx.run.started_at or ctx.clock()
    deadline = budgets.deadline(started_at, ctx.budget) + timedelta(seconds=ctx.state.paused_s)
    ctx.deadline = deadline
    remaining_s = (deadline - ctx.clock()).total_seconds()
    SECRETS_IN_USE.add(run_id, ctx.secrets)
    try:
        try:
            if remaining_s <= 0:
                # Claimed at its deadline (parked for subagents): it ends without a step more.
                raise TimeoutError
            async with asyncio.timeout(remaining_s):
                await _drive(ctx)
        except TimeoutError:
            ctx.count_cut_short()
            await ctx.finish(
                RunStatus.TIMED_OUT,
                error=Failure(
                    code=ErrorCode.RUN_TIMEOUT,
                    message=f"the run exceeded its timeout of {ctx.budget.timeout_s:g} s",
                ),
            )
        except RunFailure as failure:
            ctx.count_cut_short()
            await ctx.finish(
                RunStatus.FAILED, error=Failure(code=str(failure.code), message=failure.message)
            )
    except approvals.Parked:
        logger.info("run parked", extra={"action": "run.parked", "run_id": run_id})
    except LeaseLost:
        logger.info("run no longer owned", extra={"action": "run.lost", "run_id": run_id})
        await _keep_usage_if_cancelled(ctx)
    except asyncio.CancelledError:
        if not ctx.cancel_requested:
            raise
        ctx.count_cut_short()
        ctx.log_end(RunStatus.CANCELLED)
        await _keep_usage_if_cancelled(ctx)
    except Unavailable:
        logger.warning(
            "database unavailable; leaving the run for another attempt",
            extra={"action": "run.abandoned", "run_id": run_id},
        )
    except Exception:
        logger.exception("run crashed", extra={"action": "run.crashed", "run_id": run_id})
        ctx.count_cut_short()
        with contextlib.suppress(LeaseLost, Unavailable):
            await ctx.finish(
                RunStatus.FAILED,
                error=Failure(
                    code=ErrorCode.INTERNAL_ERROR, message="internal error in the runtime"
                ),
            )
    finally:
        try:
            await ctx.close()
        finally:
            SECRETS_IN_USE.remove(run_id)


async def _keep_usage_if_cancelled(ctx: RunContext) -> None:
    """A run lost to a cancel keeps what it used since its last checkpoint (best effort)."""
    try:
        await ctx.keep_cancelled_usage()
    except Unavailable:
        logger.warning(
            "could not record the usage of a cancelled run",
            extra={"action": "run.usage_lost", "run_id": ctx.run.id},
        )


async def _drive(ctx: RunContext) -> None:
    state = ctx.state
    if state.seq == 0 and not ctx.journal.has_started:
        ctx.emit(events.RunStarted(model=ctx.entry.id))
    session = await _session_budget(ctx)
    budgets.check_session_spend(state.cost_usd, session)  # queued behind the run that spent it
    await ctx.tooling.start(ctx.emit, ctx.load_files)
    while True:
        if state.pending:
            await _finish_tool_calls(ctx)
        budgets.check_turn_allowed(state.turns, ctx.budget)
        logged = logged_turn(ctx.journal)
        turn = logged.turn if logged is not None else await model_turn(ctx)
        state.turns += 1
        cost = logged.cost_usd if logged is not None else ctx.entry.cost_usd(turn.usage)
        spent_before = state.cost_usd
        state.input_tokens += turn.input_tokens
        state.output_tokens += turn.output_tokens
        state.cost_usd += cost
        state.messages.append(turn.assistant_message())
        if logged is None:
            ctx.emit_checkpointed(
                events.MessageCompleted(
                    text=turn.text,
                    tool_calls=tuple(
                        events.CalledTool(call_id=c.call_id, name=c.name, input=c.input)
                        for c in turn.tool_calls
                    ),
                )
            )
            ctx.emit_checkpointed(
                events.Usage(
                    input_tokens=turn.input_tokens,
                    output_tokens=turn.output_tokens,
                    cache_read_tokens=turn.usage.cache_read_tokens,
                    cache_write_tokens=turn.usage.cache_write_tokens,
                    cost_usd=cost,
                )
            )
        if logged is None and budgets.spend_warning_due(spent_before, state.cost_usd, ctx.budget):
            ctx.emit_checkpointed(
                events.BudgetWarning(
                    limit="max_spend_usd",
                    used_usd=state.cost_usd,
                    cap_usd=ctx.budget.max_spend_usd or 0.0,
                )
            )
        if logged is None and session is not None:
            _session_spend_events(ctx, session, spent_before)
        budgets.check_output_tokens(state.output_tokens, ctx.budget)
        budgets.check_spend(state.cost_usd, ctx.budget)
        await _check_tree_spend(ctx)
        if not turn.tool_calls:
            # An answer is kept even at the session's cap: the session stops after it.
            await ctx.finish(RunStatus.COMPLETED, output=turn.text)
            return
        budgets.check_session_spend(state.cost_usd, session)
        budgets.check_tool_calls(len(turn.tool_calls), ctx.budget)
        state.pending = [
            _classify(ctx, call, turn.argument_errors.get(call.call_id)) for call in turn.tool_calls
        ]
        state.results = []
        state.issued = False
        await ctx.save()


async def _session_budget(ctx: RunContext) -> budgets.SessionBudget | None:
    """The spend cap of the run's session, with what its other runs spent, if it has one.

    Read when the run starts (or resumes): the session's runs go one at a time, and a cap
    changed meanwhile applies from its next run.
    """
    run = ctx.run
    if run.session_id is None:
        return None
    found = await ctx.services.database.read(
        session_store.spend_cap, run.workspace_id, run.session_id, run.id
    )
    if found is None:
        return None
    cap_usd, spent_usd = found
    return budgets.SessionBudget(
        session_id=run.session_id, cap_usd=cap_usd, spent_before_usd=spent_usd
    )


async def _check_tree_spend(ctx: RunContext) -> None:
    """A run of a subagent tree stops once the tree has spent its root's cap."""
    cap = ctx.budget.tree_cap_usd
    root = ctx.run.root_run_id or (ctx.run.id if ctx.spawned else None)
    if cap is None or root is None:
        return
    others = await ctx.lineage.tree_cost(root, but=ctx.run.id)
    budgets.check_tree_spend(others + ctx.state.cost_usd, cap)


def _session_spend_events(
    ctx: RunContext, session: budgets.SessionBudget, spent_before: float
) -> None:
    """Warn at 80 % of the session's cap; at the cap, say the session stops (`stop_reason`)."""
    spent = ctx.state.cost_usd
    if budgets.session_warning_due(spent_before, spent, session):
        ctx.emit_checkpointed(
            events.BudgetWarning(
                limit="max_spend_usd",
                used_usd=session.total(spent),
                cap_usd=session.cap_usd,
                scope="session",
            )
        )
    if budgets.session_spent_out(spent, session) and not budgets.session_spent_out(
        spent_before, session
    ):
        ctx.emit_checkpointed(
            events.SessionStopped(
                session_id=session.session_id,
                reason="budget_exceeded",
                spent_usd=session.total(spent),
                max_spend_usd=session.cap_usd,
            )
        )


def _classify(ctx: RunContext, call: ToolCall, error: str | None) -> PendingCall:
    """Decide who executes a call; a call that cannot run carries its error already."""
    kind = CallKind(ctx.tools.kind(call.name))
    if kind is CallKind.SERVER and error is None and ctx.tools.server_tool(call.name) is None:
        error = f"unknown tool {call.name!r}"
    if kind is CallKind.CLIENT and error is not None:
        kind = CallKind.SERVER  # answered with its error at once, never sent to the caller
    return approvals.classify(ctx, PendingCall.of(call, kind=kind, error=error))


async def _finish_tool_calls(ctx: RunContext) -> None:
    """Get a result for every pending call, then give them all to the model."""
    state = ctx.state
    await approvals.settle(ctx)
    await subagents.start_children(ctx)
    done = {result.call_id for result in state.results}
    for call in state.pending:
        if call.kind is CallKind.SERVER and call.call_id not in done:
            await _run_server_tool(ctx, call)
    await subagents.collect(ctx)
    done = {result.call_id for result in state.results}
    waiting = [c for c in state.pending if c.kind is CallKind.CLIENT and c.call_id not in done]
    if waiting:
        await _await_client_results(ctx, waiting)
    by_id = {result.call_id: result for result in state.results}
    state.messages.append(tool_results_message(by_id[c.call_id] for c in state.pending))
    state.pending, state.results, state.issued = [], [], False


INTERRUPTED = (
    "interrupted: the worker running this call stopped before it finished, so whether it took "
    "effect is unknown; check before running it again"
)
"""The result of a call with effects that a previous attempt of the run started but never
finished: running it again could do twice what was meant once."""


async def _run_server_tool(ctx: RunContext, call: PendingCall) -> None:
    interrupted = call.call_id in ctx.journal.started_tools
    if not interrupted and not call.refused:
        ctx.emit(events.ToolStarted(call_id=call.call_id, name=call.name, input=call.input))
    output: str | None = None
    error = call.error
    tool = ctx.tools.server_tool(call.name)
    if error is None and interrupted and tool is not None and not tool.rerun_safe:
        ctx.emit_checkpointed(
            events.ToolInterrupted(call_id=call.call_id, name=call.name, reason=INTERRUPTED)
        )
        error = INTERRUPTED
    if error is None:
        assert tool is not None
        if not tool.rerun_safe:
            # Logged before it runs: a worker that takes the run over after a crash must know
            # the call may have taken effect.
            await ctx.events.flush()
        shown = CallOutput(call.call_id, ctx.emit, ctx.redactor)
        outcome = await ctx.tooling.call(tool, call.input, on_output=shown.show)
        shown.close()
        # Redacted before the model sees it: a secret a tool printed goes no further.
        redact = ctx.redactor.text
        output = bound_output(redact(outcome.output or "")) if outcome.ok else None
        error = bound_output(redact(outcome.error)) if outcome.error is not None else None
    ctx.emit_checkpointed(
        events.ToolCompleted(
            call_id=call.call_id, name=call.name, ok=error is None, output=output, error=error
        )
    )
    ctx.state.results.append(_result_block(call, output, error))
    await ctx.save()


async def _await_client_results(ctx: RunContext, waiting: list[PendingCall]) -> None:
    state = ctx.state
    if not state.issued:
        now = ctx.clock()
        waiting = [
            call.issued(now, ctx.tools.client_timeout_s(call.name, ctx.client_tool_timeout_s))
            for call in waiting
        ]
        for call in waiting:
            ctx.emit_checkpointed(
                events.ClientToolCall(call_id=call.call_id, name=call.name, input=call.input)
            )
        issued = {call.call_id: call for call in waiting}
        state.pending = [issued.get(call.call_id, call) for call in state.pending]
        state.issued = True
        await ctx.save(status=RunStatus.WAITING, new_tool_calls=waiting)
    outstanding = {call.call_id: call for call in waiting}
    ctx.is_waiting = True
    try:
        await _collect_results(ctx, outstanding)
    finally:
        ctx.is_waiting = False


async def _collect_results(ctx: RunContext, outstanding: dict[str, PendingCall]) -> None:
    state = ctx.state
    while outstanding:
        ctx.tool_results_ready.clear()
        answered = await ctx.services.database.read(
            tool_call_store.answered, ctx.run.id, list(outstanding)
        )
        if answered:
            for row in sorted(answered, key=lambda r: list(outstanding).index(r["call_id"])):
                call = outstanding.pop(row["call_id"])
                ctx.emit_checkpointed(
                    events.ClientToolResult(
                        call_id=call.call_id, output=row["output"], error=row["error"]
                    )
                )
                output = bound_output(row["output"]) if row["output"] is not None else None
                error = bound_output(row["error"]) if row["error"] is not None else None
                state.results.append(_result_block(call, output, error))
            await ctx.save(status=RunStatus.WAITING if outstanding else RunStatus.RUNNING)
            continue
        await _wait_for_results(ctx, outstanding)


async def _wait_for_results(ctx: RunContext, outstanding: dict[str, PendingCall]) -> None:
    now = ctx.clock()
    first_due = min(outstanding.values(), key=PendingCall.deadline)
    left_s = (first_due.deadline() - now).total_seconds()
    if left_s <= 0:
        raise ClientToolTimeout(
            f"no result for client tool {first_due.name!r} (call {first_due.call_id}) "
            f"within {first_due.timeout_s or 0:g} s"
        )
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(min(left_s, ctx.resync_s)):
            await ctx.tool_results_ready.wait()


def _result_block(call: PendingCall, output: str | None, error: str | None) -> ToolResult:
    return ToolResult(
        call.call_id,
        call.name,
        error if error is not None else (output or ""),
        is_error=error is not None,
    )
