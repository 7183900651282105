"""The client-tool loop: follow a run's stream and answer what it asks of this process.

That is each client tool call, and, given an `on_approval` callback, each call a permission
policy holds for a person. An answer that arrives after the run moved on is ignored, and a run
followed again has each call checked to still await its answer first, so no tool runs twice and
no callback is asked about a call someone already decided. Without a callback a held call just
waits: someone else may decide it.

Every other event, `subagent.started` and `subagent.completed` among them, only goes to
`on_event`: a subagent is a run of its own, with its own log, that the server runs and waits for.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable, Sequence
from typing import Any

from corral.client._decisions import OnApproval, as_decision
from corral.client._http import new_idempotency_key
from corral.client._sse import AnyEvent
from corral.client._tools import Tool
from corral.client.errors import APIStatusError, run_error
from corral.client.resources._common import ToolLike, local_tools, segment
from corral.client.resources._run_events import AsyncRunEvents, RunEvents
from corral.client.resources.approvals import LATE_DECISION_CODES, Approvals, AsyncApprovals
from corral.types.events import ApprovalRequested, ClientToolCall
from corral.types.permissions import Approval, ApprovalStatus
from corral.types.runs import Run
from corral.types.tools import ToolResultAccepted

OnEvent = Callable[[AnyEvent], Any]
"""Called with every event a high-level call sees (it may return an awaitable in async code)."""


def _tool_answer(tools: dict[str, Tool], call: ClientToolCall) -> Tool | str:
    tool = tools.get(call.name)
    return tool if tool is not None else f"no client tool named {call.name!r} in this process"


def _ignorable(error: APIStatusError) -> bool:
    """An answer that arrives after the run moved on (already answered, or ended)."""
    return error.code in ("unknown_tool_call", "run_terminal")


def _result_body(call_id: str, output: str | None, error: str | None) -> dict[str, Any]:
    body = {"call_id": call_id, "output": output, "error": error}
    return {k: v for k, v in body.items() if v is not None}


async def _awaited(value: Any) -> Any:
    return await value


def _still_pending(approvals: Sequence[Approval], call_id: str) -> bool:
    return any(a.call_id == call_id and a.status == ApprovalStatus.PENDING for a in approvals)


def _completed(run: Run) -> Run:
    error = run_error(run)
    if error is not None:
        raise error
    return run


class ToolLoop(RunEvents):
    """`/v1/runs/{id}/tool-results`, and `follow`, which answers calls as the run makes them."""

    def submit_tool_result(
        self,
        run_id: str,
        *,
        call_id: str,
        output: str | None = None,
        error: str | None = None,
    ) -> ToolResultAccepted:
        """Answer a `client_tool.call` with its output or an error."""
        response = self._client.request(
            "POST",
            f"/v1/runs/{segment(run_id)}/tool-results",
            json=_result_body(call_id, output, error),
            idempotency_key=new_idempotency_key(),
        )
        return ToolResultAccepted.model_validate(response.json())

    def follow(
        self,
        run_id: str,
        *,
        tools: Sequence[ToolLike] = (),
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
        fresh: bool = False,
    ) -> Run:
        """Stream the run, execute the client tools it calls, return it completed.

        `on_approval` decides the calls a permission policy holds (see `Decision`); without it
        they wait for a decision made elsewhere. Raises `RunError` when the run fails, times
        out or is cancelled. Unless the run is `fresh` (just created here), each call is checked
        to still await an answer first, so following a run again never executes a tool twice.
        """
        executable = local_tools(tools)
        with self.stream(run_id) as events:
            for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, ClientToolCall):
                    self._answer(run_id, event, executable, fresh)
                elif isinstance(event, ApprovalRequested) and on_approval is not None:
                    self._approve(run_id, event, on_approval, fresh)
        return _completed(self._current(run_id))

    def _current(self, run_id: str) -> Run:
        return Run.model_validate(self._client.request("GET", f"/v1/runs/{segment(run_id)}").json())

    def _answer(
        self, run_id: str, call: ClientToolCall, tools: dict[str, Tool], fresh: bool
    ) -> None:
        if not fresh:
            pending = {c.call_id for c in self._current(run_id).pending_tool_calls}
            if call.call_id not in pending:
                return
        tool = _tool_answer(tools, call)
        output, error = (None, tool) if isinstance(tool, str) else tool.call(call.input)
        try:
            self.submit_tool_result(run_id, call_id=call.call_id, output=output, error=error)
        except APIStatusError as failure:
            if not _ignorable(failure):
                raise

    def _approve(
        self, run_id: str, request: ApprovalRequested, on_approval: OnApproval, fresh: bool
    ) -> None:
        approvals = Approvals(self._client)
        if not fresh and not _still_pending(approvals.of_run(run_id), request.call_id):
            return
        answer = on_approval(request)
        if inspect.isawaitable(answer):
            answer = asyncio.run(_awaited(answer))
        decision = as_decision(answer)
        if decision is None:
            return
        try:
            approvals.decide(
                run_id,
                request.call_id,
                decision=decision.decision,
                message=decision.message,
                input=decision.input,
            )
        except APIStatusError as failure:
            if failure.code not in LATE_DECISION_CODES:
                raise


class AsyncToolLoop(AsyncRunEvents):
    """`/v1/runs/{id}/tool-results`, and `follow`, which answers calls as the run makes them."""

    async def submit_tool_result(
        self,
        run_id: str,
        *,
        call_id: str,
        output: str | None = None,
        error: str | None = None,
    ) -> ToolResultAccepted:
        """Answer a `client_tool.call` with its output or an error."""
        response = await self._client.request(
            "POST",
            f"/v1/runs/{segment(run_id)}/tool-results",
            json=_result_body(call_id, output, error),
            idempotency_key=new_idempotency_key(),
        )
        return ToolResultAccepted.model_validate(response.json())

    async def follow(
        self,
        run_id: str,
        *,
        tools: Sequence[ToolLike] = (),
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
        fresh: bool = False,
    ) -> Run:
        """Stream the run, execute the client tools it calls, return it completed.

        Raises `RunError` when it fails, times out or is cancelled. Async tools and
        `on_approval` callbacks are awaited, sync ones run in a thread.
        """
        executable = local_tools(tools)
        async with self.stream(run_id) as events:
            async for event in events:
                if on_event is not None:
                    result = on_event(event)
                    if inspect.isawaitable(result):
                        await result
                if isinstance(event, ClientToolCall):
                    await self._answer(run_id, event, executable, fresh)
                elif isinstance(event, ApprovalRequested) and on_approval is not None:
                    await self._approve(run_id, event, on_approval, fresh)
        return _completed(await self._current(run_id))

    async def _current(self, run_id: str) -> Run:
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}")
        return Run.model_validate(response.json())

    async def _answer(
        self, run_id: str, call: ClientToolCall, tools: dict[str, Tool], fresh: bool
    ) -> None:
        if not fresh:
            pending = {c.call_id for c in (await self._current(run_id)).pending_tool_calls}
            if call.call_id not in pending:
                return
        tool = _tool_answer(tools, call)
        output, error = (None, tool) if isinstance(tool, str) else await tool.acall(call.input)
        try:
            await self.submit_tool_result(run_id, call_id=call.call_id, output=output, error=error)
        except APIStatusError as failure:
            if not _ignorable(failure):
                raise

    async def _approve(
        self, run_id: str, request: ApprovalRequested, on_approval: OnApproval, fresh: bool
    ) -> None:
        approvals = AsyncApprovals(self._client)
        if not fresh and not _still_pending(await approvals.of_run(run_id), request.call_id):
            return
        answer: Any
        if inspect.iscoroutinefunction(on_approval):
            answer = await on_approval(request)
        else:
            answer = await asyncio.to_thread(on_approval, request)
        if inspect.isawaitable(answer):
            answer = await answer
        decision = as_decision(answer)
        if decision is None:
            return
        try:
            await approvals.decide(
                run_id,
                request.call_id,
                decision=decision.decision,
                message=decision.message,
                input=decision.input,
            )
        except APIStatusError as failure:
            if failure.code not in LATE_DECISION_CODES:
                raise
