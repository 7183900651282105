"""`client.runs`: submit, read, list, wait for, stream, cancel and delete runs.

Also answers client tool calls, and `run()` does all of it at once, executing client tools in
this process.
"""

from __future__ import annotations

import builtins
import inspect
import time
from collections.abc import Callable, Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from corral.client._http import clean_body, error_from_response, new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client._sse import (
    AnyEvent,
    AsyncStream,
    ServerSentEvent,
    Stream,
    parse_event,
    parse_event_document,
)
from corral.client._tools import Tool
from corral.client.errors import APIStatusError, run_error
from corral.client.resources._common import ToolLike, local_tools, segment, tool_refs
from corral.client.resources.files import (
    AsyncRunOutputs,
    FileRefLike,
    RunOutputs,
    SkillLike,
    file_refs,
    skill_refs,
)
from corral.types.events import TERMINAL_EVENT_TYPES, ClientToolCall
from corral.types.runs import TERMINAL_STATUSES, Run, RunStatus
from corral.types.tools import ToolResultAccepted

if TYPE_CHECKING:
    from corral.client._client import AsyncCorral, Corral

OnEvent = Callable[[AnyEvent], Any]
"""Called with every event a high-level call sees (it may return an awaitable in async code)."""

SERVER_WAIT_S = 60.0
"""Longest single `wait` request; `wait()` repeats it up to the caller's timeout."""


def _frame(frame: ServerSentEvent) -> AnyEvent:
    return parse_event(frame.data)


def _is_terminal(event: AnyEvent) -> bool:
    return event.type in TERMINAL_EVENT_TYPES


def run_body(
    *,
    input: Any,
    agent: str | None,
    agent_version: int | None,
    agent_spec: dict[str, Any] | None,
    model: str | None,
    instructions: str | None,
    session: str | None,
    tools: Sequence[ToolLike],
    metadata: dict[str, str] | None,
    api_keys: dict[str, str] | None = None,
    files: Sequence[FileRefLike] = (),
    skills: Sequence[SkillLike] = (),
) -> dict[str, Any]:
    """The body of `POST /v1/runs`; `model`/`instructions` make an inline agent."""
    if agent is None and agent_spec is None and session is None:
        if model is None:
            raise ValueError("give agent=, agent_spec=, session= or model=")
        agent_spec = {"model": model}
    if agent_spec is not None and (model is not None or instructions is not None):
        agent_spec = {**agent_spec}
        if model is not None:
            agent_spec["model"] = model
        if instructions is not None:
            agent_spec["instructions"] = instructions
    body: dict[str, Any] = {
        "input": input,
        "agent": agent,
        "agent_version": agent_version,
        "agent_spec": agent_spec,
        "session": session,
        "metadata": metadata,
        "api_keys": api_keys,
    }
    if tools:
        body["tools"] = tool_refs(tools)
    if files:
        body["files"] = file_refs(files)
    if skills:
        body["skills"] = skill_refs(skills)
    return {k: v for k, v in clean_body(body).items() if v is not None}


def _tool_answer(tools: dict[str, Tool], call: ClientToolCall) -> Tool | str:
    tool = tools.get(call.name)
    return tool if tool is not None else f"no client tool named {call.name!r} in this process"


def _ignorable(error: APIStatusError) -> bool:
    """An answer that arrives after the run moved on (already answered, or ended)."""
    return error.code in ("unknown_tool_call", "run_terminal")


class Runs:
    """`/v1/runs`."""

    def __init__(self, client: Corral) -> None:
        self._client = client

    @cached_property
    def outputs(self) -> RunOutputs:
        """`/v1/runs/{id}/outputs`."""
        return RunOutputs(self._client)

    def create(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        session: str | None = None,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        files: Sequence[FileRefLike] = (),
        skills: Sequence[SkillLike] = (),
        idempotency_key: str | None = None,
    ) -> Run:
        """Submit a run (queued); give `agent`, `agent_spec` (or `model`) or `session`.

        An idempotency key is sent with every create, so a retried request never runs twice.
        """
        body = run_body(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            session=session,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            files=files,
            skills=skills,
        )
        response = self._client.request(
            "POST", "/v1/runs", json=body, idempotency_key=idempotency_key or new_idempotency_key()
        )
        return Run.model_validate(response.json())

    def retrieve(self, run_id: str) -> Run:
        """The run as it stands."""
        return Run.model_validate(self._client.request("GET", f"/v1/runs/{segment(run_id)}").json())

    def list(
        self,
        *,
        status: RunStatus | str | None = None,
        agent: str | None = None,
        session: str | None = None,
        metadata: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> SyncPage[Run]:
        """Runs newest first, filtered (iterating the page walks all pages)."""
        filters = [f"{k}:{v}" for k, v in (metadata or {}).items()] or None

        def fetch(cursor: str | None) -> tuple[list[Run], str | None]:
            params = {
                "status": status,
                "agent": agent,
                "session": session,
                "metadata": filters,
                "limit": limit,
                "cursor": cursor,
            }
            body = self._client.request("GET", "/v1/runs", params=params).json()
            return [Run.model_validate(r) for r in body["data"]], body["next_cursor"]

        return SyncPage(fetch, *fetch(None))

    def cancel(self, run_id: str) -> Run:
        """Cancel the run (an ended run keeps its status)."""
        response = self._client.request("POST", f"/v1/runs/{segment(run_id)}/cancel")
        return Run.model_validate(response.json())

    def delete(self, run_id: str) -> None:
        """Delete an ended run and its events."""
        self._client.request("DELETE", f"/v1/runs/{segment(run_id)}")

    def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """The run once it has ended (or as it stands after `timeout_s`; None waits on)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = SERVER_WAIT_S if deadline is None else max(0.0, deadline - time.monotonic())
            step = min(left, SERVER_WAIT_S)
            response = self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/wait",
                params={"timeout_s": step},
                timeout=step + 30,
            )
            run = Run.model_validate(response.json())
            if run.status in TERMINAL_STATUSES or (deadline and time.monotonic() >= deadline):
                return run

    def events(self, run_id: str, *, after: int = 0) -> builtins.list[AnyEvent]:
        """Every stored event after `after`, typed."""
        collected: builtins.list[AnyEvent] = []
        while True:
            body = self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/events",
                params={"after": after, "limit": 1000},
            ).json()
            collected.extend(parse_event_document(e) for e in body["data"])
            if not body["has_more"] or not body["data"]:
                return collected
            after = body["data"][-1]["seq"]

    def stream(self, run_id: str, *, after: int | None = None) -> Stream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `with client.runs.stream(id) as events: for event in events`.
        """
        return Stream(
            connect=self._client.stream_connection(f"/v1/runs/{segment(run_id)}/stream"),
            raise_for_status=_raise,
            parse=_frame,
            is_last=_is_terminal,
            is_over=lambda: False,
            after=None if after is None else str(after),
        )

    def submit_tool_result(
        self,
        run_id: str,
        *,
        call_id: str,
        output: str | None = None,
        error: str | None = None,
    ) -> ToolResultAccepted:
        """Answer a `client_tool.call` with its output or an error."""
        body = {"call_id": call_id, "output": output, "error": error}
        response = self._client.request(
            "POST",
            f"/v1/runs/{segment(run_id)}/tool-results",
            json={k: v for k, v in body.items() if v is not None},
            idempotency_key=new_idempotency_key(),
        )
        return ToolResultAccepted.model_validate(response.json())

    def follow(
        self,
        run_id: str,
        *,
        tools: Sequence[ToolLike] = (),
        on_event: OnEvent | None = None,
        fresh: bool = False,
    ) -> Run:
        """Stream the run, execute the client tools it calls, return it completed.

        Raises `RunError` when it fails, times out or is cancelled. Unless the run is `fresh`
        (just created here), each call is checked to still await an answer before it runs, so
        following a run again never executes a tool twice.
        """
        executable = local_tools(tools)
        with self.stream(run_id) as events:
            for event in events:
                if on_event is not None:
                    on_event(event)
                if isinstance(event, ClientToolCall):
                    self._answer(run_id, event, executable, fresh)
        return _completed(self.retrieve(run_id))

    def _answer(
        self, run_id: str, call: ClientToolCall, tools: dict[str, Tool], fresh: bool
    ) -> None:
        if not fresh:
            pending = {c.call_id for c in self.retrieve(run_id).pending_tool_calls}
            if call.call_id not in pending:
                return
        tool = _tool_answer(tools, call)
        output, error = (None, tool) if isinstance(tool, str) else tool.call(call.input)
        try:
            self.submit_tool_result(run_id, call_id=call.call_id, output=output, error=error)
        except APIStatusError as failure:
            if not _ignorable(failure):
                raise

    def run(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        files: Sequence[FileRefLike] = (),
        skills: Sequence[SkillLike] = (),
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Submit a run and `follow` it: the completed run, client tools executed here.

        With your own `idempotency_key` the run may be one submitted before, so its tool
        calls are checked to still await an answer before they run.
        """
        run = self.create(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            files=files,
            skills=skills,
            idempotency_key=idempotency_key,
        )
        return self.follow(run.id, tools=tools, on_event=on_event, fresh=idempotency_key is None)


class AsyncRuns:
    """`/v1/runs`."""

    def __init__(self, client: AsyncCorral) -> None:
        self._client = client

    @cached_property
    def outputs(self) -> AsyncRunOutputs:
        """`/v1/runs/{id}/outputs`."""
        return AsyncRunOutputs(self._client)

    async def create(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        session: str | None = None,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        files: Sequence[FileRefLike] = (),
        skills: Sequence[SkillLike] = (),
        idempotency_key: str | None = None,
    ) -> Run:
        """Submit a run (queued); give `agent`, `agent_spec` (or `model`) or `session`.

        An idempotency key is sent with every create, so a retried request never runs twice.
        """
        body = run_body(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            session=session,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            files=files,
            skills=skills,
        )
        response = await self._client.request(
            "POST", "/v1/runs", json=body, idempotency_key=idempotency_key or new_idempotency_key()
        )
        return Run.model_validate(response.json())

    async def retrieve(self, run_id: str) -> Run:
        """The run as it stands."""
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}")
        return Run.model_validate(response.json())

    async def list(
        self,
        *,
        status: RunStatus | str | None = None,
        agent: str | None = None,
        session: str | None = None,
        metadata: dict[str, str] | None = None,
        limit: int | None = None,
    ) -> AsyncPage[Run]:
        """Runs newest first, filtered (iterating the page walks all pages)."""
        filters = [f"{k}:{v}" for k, v in (metadata or {}).items()] or None

        async def fetch(cursor: str | None) -> tuple[list[Run], str | None]:
            params = {
                "status": status,
                "agent": agent,
                "session": session,
                "metadata": filters,
                "limit": limit,
                "cursor": cursor,
            }
            body = (await self._client.request("GET", "/v1/runs", params=params)).json()
            return [Run.model_validate(r) for r in body["data"]], body["next_cursor"]

        return AsyncPage(fetch, *(await fetch(None)))

    async def cancel(self, run_id: str) -> Run:
        """Cancel the run (an ended run keeps its status)."""
        response = await self._client.request("POST", f"/v1/runs/{segment(run_id)}/cancel")
        return Run.model_validate(response.json())

    async def delete(self, run_id: str) -> None:
        """Delete an ended run and its events."""
        await self._client.request("DELETE", f"/v1/runs/{segment(run_id)}")

    async def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """The run once it has ended (or as it stands after `timeout_s`; None waits on)."""
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while True:
            left = SERVER_WAIT_S if deadline is None else max(0.0, deadline - time.monotonic())
            step = min(left, SERVER_WAIT_S)
            response = await self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/wait",
                params={"timeout_s": step},
                timeout=step + 30,
            )
            run = Run.model_validate(response.json())
            if run.status in TERMINAL_STATUSES or (deadline and time.monotonic() >= deadline):
                return run

    async def events(self, run_id: str, *, after: int = 0) -> builtins.list[AnyEvent]:
        """Every stored event after `after`, typed."""
        collected: builtins.list[AnyEvent] = []
        while True:
            response = await self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/events",
                params={"after": after, "limit": 1000},
            )
            body = response.json()
            collected.extend(parse_event_document(e) for e in body["data"])
            if not body["has_more"] or not body["data"]:
                return collected
            after = body["data"][-1]["seq"]

    def stream(self, run_id: str, *, after: int | None = None) -> AsyncStream[AnyEvent]:
        """Live events of the run, ending with the terminal event.

        It resumes by itself after a dropped connection. Use as
        `async with client.runs.stream(id) as events: async for event in events`.
        """

        async def never_over() -> bool:
            return False

        return AsyncStream(
            connect=self._client.stream_connection(f"/v1/runs/{segment(run_id)}/stream"),
            raise_for_status=_raise,
            parse=_frame,
            is_last=_is_terminal,
            is_over=never_over,
            after=None if after is None else str(after),
        )

    async def submit_tool_result(
        self,
        run_id: str,
        *,
        call_id: str,
        output: str | None = None,
        error: str | None = None,
    ) -> ToolResultAccepted:
        """Answer a `client_tool.call` with its output or an error."""
        body = {"call_id": call_id, "output": output, "error": error}
        response = await self._client.request(
            "POST",
            f"/v1/runs/{segment(run_id)}/tool-results",
            json={k: v for k, v in body.items() if v is not None},
            idempotency_key=new_idempotency_key(),
        )
        return ToolResultAccepted.model_validate(response.json())

    async def follow(
        self,
        run_id: str,
        *,
        tools: Sequence[ToolLike] = (),
        on_event: OnEvent | None = None,
        fresh: bool = False,
    ) -> Run:
        """Stream the run, execute the client tools it calls, return it completed.

        Raises `RunError` when it fails, times out or is cancelled. Async tools are awaited,
        sync ones run in a thread.
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
        return _completed(await self.retrieve(run_id))

    async def _answer(
        self, run_id: str, call: ClientToolCall, tools: dict[str, Tool], fresh: bool
    ) -> None:
        if not fresh:
            pending = {c.call_id for c in (await self.retrieve(run_id)).pending_tool_calls}
            if call.call_id not in pending:
                return
        tool = _tool_answer(tools, call)
        output, error = (None, tool) if isinstance(tool, str) else await tool.acall(call.input)
        try:
            await self.submit_tool_result(run_id, call_id=call.call_id, output=output, error=error)
        except APIStatusError as failure:
            if not _ignorable(failure):
                raise

    async def run(
        self,
        *,
        input: Any,
        agent: str | None = None,
        agent_version: int | None = None,
        agent_spec: dict[str, Any] | None = None,
        model: str | None = None,
        instructions: str | None = None,
        tools: Sequence[ToolLike] = (),
        metadata: dict[str, str] | None = None,
        api_keys: dict[str, str] | None = None,
        files: Sequence[FileRefLike] = (),
        skills: Sequence[SkillLike] = (),
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
    ) -> Run:
        """Submit a run and `follow` it: the completed run, client tools executed here.

        With your own `idempotency_key` the run may be one submitted before, so its tool
        calls are checked to still await an answer before they run.
        """
        run = await self.create(
            input=input,
            agent=agent,
            agent_version=agent_version,
            agent_spec=agent_spec,
            model=model,
            instructions=instructions,
            tools=tools,
            metadata=metadata,
            api_keys=api_keys,
            files=files,
            skills=skills,
            idempotency_key=idempotency_key,
        )
        return await self.follow(
            run.id, tools=tools, on_event=on_event, fresh=idempotency_key is None
        )


def _raise(response: httpx.Response) -> None:
    raise error_from_response(response)


def _completed(run: Run) -> Run:
    error = run_error(run)
    if error is not None:
        raise error
    return run
