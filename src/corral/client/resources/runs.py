"""`client.runs`: submit, read, list, cancel and delete runs, or `run()` one to its end.

`Runs` gathers what its bases hold: reading and streaming events, waiting, the loop that
executes client tools in this process, and a run's subagents (`children`, `tree`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from functools import cached_property
from typing import Any

from corral.client._decisions import OnApproval
from corral.client._http import clean_body, new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._common import ToolLike, segment, spec_body, tool_refs
from corral.client.resources._run_lineage import AsyncRunLineage, RunLineage
from corral.client.resources._run_waiting import AsyncRunWaiting, RunWaiting
from corral.client.resources._tool_loop import AsyncToolLoop, ToolLoop
from corral.client.resources._tool_loop import OnEvent as OnEvent
from corral.client.resources.files import (
    AsyncRunOutputs,
    FileRefLike,
    RunOutputs,
    SkillLike,
    file_refs,
    skill_refs,
)
from corral.types.runs import Run, RunStatus


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
    permissions: dict[str, Any] | None = None,
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
        "agent_spec": spec_body(agent_spec),
        "session": session,
        "metadata": metadata,
        "api_keys": api_keys,
        "permissions": permissions,
    }
    if tools:
        body["tools"] = tool_refs(tools)
    if files:
        body["files"] = file_refs(files)
    if skills:
        body["skills"] = skill_refs(skills)
    return {k: v for k, v in clean_body(body).items() if v is not None}


def _list_params(
    status: RunStatus | str | None,
    agent: str | None,
    session: str | None,
    metadata: dict[str, str] | None,
    limit: int | None,
    parent_run: str | None,
    root_run: str | None,
) -> dict[str, Any]:
    filters = [f"{k}:{v}" for k, v in (metadata or {}).items()] or None
    return {
        "status": status,
        "agent": agent,
        "session": session,
        "metadata": filters,
        "limit": limit,
        "parent_run": parent_run,
        "root_run": root_run,
    }


def _created_params(after: datetime | None, before: datetime | None) -> dict[str, str | None]:
    """The creation-time bounds as ISO 8601, which is all a query string can carry."""
    return {
        "created_after": after.isoformat() if after is not None else None,
        "created_before": before.isoformat() if before is not None else None,
    }


class Runs(ToolLoop, RunWaiting, RunLineage):
    """`/v1/runs`."""

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
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Submit a run (queued); give `agent`, `agent_spec` (or `model`) or `session`.

        `permissions` (allow, ask or deny, by tool) is layered over the agent's and session's.
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
            permissions=permissions,
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
        parent_run: str | None = None,
        root_run: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> SyncPage[Run]:
        """Runs newest first, filtered (iterating the page walks all pages).

        `parent_run` keeps the subagents that run started, `root_run` every run below that root.
        `created_after` (included) and `created_before` (excluded) bound when they were created;
        a time without a zone is UTC.
        """
        params = _list_params(status, agent, session, metadata, limit, parent_run, root_run)
        params |= _created_params(created_after, created_before)
        return self._page("/v1/runs", Run, params)

    def cancel(self, run_id: str) -> Run:
        """Cancel the run (an ended run keeps its status)."""
        response = self._client.request("POST", f"/v1/runs/{segment(run_id)}/cancel")
        return Run.model_validate(response.json())

    def delete(self, run_id: str) -> None:
        """Delete an ended run and its events."""
        self._client.request("DELETE", f"/v1/runs/{segment(run_id)}")

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
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Submit a run and `follow` it: the completed run, client tools executed here.

        `on_approval` decides the calls its permissions hold for a person; without it they
        wait for a decision made elsewhere. With your own `idempotency_key` the run may be one
        submitted before, so its calls are checked to still await an answer first.
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
            permissions=permissions,
            idempotency_key=idempotency_key,
        )
        return self.follow(
            run.id,
            tools=tools,
            on_event=on_event,
            on_approval=on_approval,
            fresh=idempotency_key is None,
        )


class AsyncRuns(AsyncToolLoop, AsyncRunWaiting, AsyncRunLineage):
    """`/v1/runs`."""

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
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> Run:
        """Submit a run (queued); give `agent`, `agent_spec` (or `model`) or `session`.

        `permissions` (allow, ask or deny, by tool) is layered over the agent's and session's.
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
            permissions=permissions,
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
        parent_run: str | None = None,
        root_run: str | None = None,
        created_after: datetime | None = None,
        created_before: datetime | None = None,
    ) -> AsyncPage[Run]:
        """Runs newest first, filtered (iterating the page walks all pages).

        `parent_run` keeps the subagents that run started, `root_run` every run below that root.
        `created_after` (included) and `created_before` (excluded) bound when they were created;
        a time without a zone is UTC.
        """
        params = _list_params(status, agent, session, metadata, limit, parent_run, root_run)
        params |= _created_params(created_after, created_before)
        return await self._page("/v1/runs", Run, params)

    async def cancel(self, run_id: str) -> Run:
        """Cancel the run (an ended run keeps its status)."""
        response = await self._client.request("POST", f"/v1/runs/{segment(run_id)}/cancel")
        return Run.model_validate(response.json())

    async def delete(self, run_id: str) -> None:
        """Delete an ended run and its events."""
        await self._client.request("DELETE", f"/v1/runs/{segment(run_id)}")

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
        permissions: dict[str, Any] | None = None,
        idempotency_key: str | None = None,
        on_event: OnEvent | None = None,
        on_approval: OnApproval | None = None,
    ) -> Run:
        """Submit a run and `follow` it: the completed run, client tools executed here.

        `on_approval` decides the calls its permissions hold for a person; without it they
        wait for a decision made elsewhere. With your own `idempotency_key` the run may be one
        submitted before, so its calls are checked to still await an answer first.
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
            permissions=permissions,
            idempotency_key=idempotency_key,
        )
        return await self.follow(
            run.id,
            tools=tools,
            on_event=on_event,
            on_approval=on_approval,
            fresh=idempotency_key is None,
        )
