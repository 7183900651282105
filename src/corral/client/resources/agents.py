"""`client.agents`: versioned agents."""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any

from corral.client._http import NOT_GIVEN, clean_body, new_idempotency_key
from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import ToolLike, segment, tool_refs
from corral.types.agents import Agent, AgentVersion


def _agent_body(tools: Sequence[ToolLike] | Any, **fields: Any) -> dict[str, Any]:
    body = clean_body(fields)
    if tools is not NOT_GIVEN:
        body["tools"] = tool_refs(tools)
    return body


class Agents(SyncResource):
    """`/v1/agents`."""

    def create(
        self,
        *,
        name: str,
        model: str,
        description: str = NOT_GIVEN,
        instructions: str = NOT_GIVEN,
        tools: Sequence[ToolLike] = NOT_GIVEN,
        limits: dict[str, Any] = NOT_GIVEN,
        model_settings: dict[str, Any] = NOT_GIVEN,
        include_builtin_tools: bool = NOT_GIVEN,
        builtin_tools: Sequence[str] | None = NOT_GIVEN,
        environment: dict[str, Any] = NOT_GIVEN,
        skills: Sequence[dict[str, str]] = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        spend_limits: dict[str, float | None] = NOT_GIVEN,
        permissions: dict[str, Any] = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> Agent:
        """Create an agent at version 1.

        `permissions` says which of its tool calls run at once, wait for a person (`ask`), or
        never run: `{"default": "allow", "tools": {"bash": "ask"}}`.
        """
        body = _agent_body(
            tools,
            name=name,
            model=model,
            description=description,
            instructions=instructions,
            limits=limits,
            model_settings=model_settings,
            include_builtin_tools=include_builtin_tools,
            builtin_tools=builtin_tools,
            environment=environment,
            skills=skills,
            metadata=metadata,
            spend_limits=spend_limits,
            permissions=permissions,
        )
        response = self._client.request(
            "POST",
            "/v1/agents",
            json=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Agent.model_validate(response.json())

    def retrieve(self, agent: str) -> Agent:
        """An agent by id or name, at its latest version."""
        response = self._client.request("GET", f"/v1/agents/{segment(agent)}")
        return Agent.model_validate(response.json())

    def list(self, *, limit: int | None = None) -> SyncPage[Agent]:
        """Every agent, newest first (iterating the page walks all pages)."""
        return self._page("/v1/agents", Agent, {"limit": limit})

    def update(
        self,
        agent: str,
        *,
        description: str = NOT_GIVEN,
        model: str = NOT_GIVEN,
        instructions: str = NOT_GIVEN,
        tools: Sequence[ToolLike] = NOT_GIVEN,
        limits: dict[str, Any] = NOT_GIVEN,
        model_settings: dict[str, Any] = NOT_GIVEN,
        include_builtin_tools: bool = NOT_GIVEN,
        builtin_tools: Sequence[str] | None = NOT_GIVEN,
        environment: dict[str, Any] = NOT_GIVEN,
        skills: Sequence[dict[str, str]] = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        spend_limits: dict[str, float | None] = NOT_GIVEN,
        permissions: dict[str, Any] = NOT_GIVEN,
    ) -> Agent:
        """Change fields; a change makes a new version (the same spec again does not)."""
        body = _agent_body(
            tools,
            description=description,
            model=model,
            instructions=instructions,
            limits=limits,
            model_settings=model_settings,
            include_builtin_tools=include_builtin_tools,
            builtin_tools=builtin_tools,
            environment=environment,
            skills=skills,
            metadata=metadata,
            spend_limits=spend_limits,
            permissions=permissions,
        )
        response = self._client.request("PATCH", f"/v1/agents/{segment(agent)}", json=body)
        return Agent.model_validate(response.json())

    def delete(self, agent: str) -> None:
        """Delete an agent and its versions."""
        self._client.request("DELETE", f"/v1/agents/{segment(agent)}")

    def versions(self, agent: str) -> builtins.list[AgentVersion]:
        """Every version of an agent, newest first."""
        body = self._client.request("GET", f"/v1/agents/{segment(agent)}/versions").json()
        return [AgentVersion.model_validate(v) for v in body["data"]]


class AsyncAgents(AsyncResource):
    """`/v1/agents`."""

    async def create(
        self,
        *,
        name: str,
        model: str,
        description: str = NOT_GIVEN,
        instructions: str = NOT_GIVEN,
        tools: Sequence[ToolLike] = NOT_GIVEN,
        limits: dict[str, Any] = NOT_GIVEN,
        model_settings: dict[str, Any] = NOT_GIVEN,
        include_builtin_tools: bool = NOT_GIVEN,
        builtin_tools: Sequence[str] | None = NOT_GIVEN,
        environment: dict[str, Any] = NOT_GIVEN,
        skills: Sequence[dict[str, str]] = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        spend_limits: dict[str, float | None] = NOT_GIVEN,
        permissions: dict[str, Any] = NOT_GIVEN,
        idempotency_key: str | None = None,
    ) -> Agent:
        """Create an agent at version 1.

        `permissions` says which of its tool calls run at once, wait for a person (`ask`), or
        never run: `{"default": "allow", "tools": {"bash": "ask"}}`.
        """
        body = _agent_body(
            tools,
            name=name,
            model=model,
            description=description,
            instructions=instructions,
            limits=limits,
            model_settings=model_settings,
            include_builtin_tools=include_builtin_tools,
            builtin_tools=builtin_tools,
            environment=environment,
            skills=skills,
            metadata=metadata,
            spend_limits=spend_limits,
            permissions=permissions,
        )
        response = await self._client.request(
            "POST",
            "/v1/agents",
            json=body,
            idempotency_key=idempotency_key or new_idempotency_key(),
        )
        return Agent.model_validate(response.json())

    async def retrieve(self, agent: str) -> Agent:
        """An agent by id or name, at its latest version."""
        response = await self._client.request("GET", f"/v1/agents/{segment(agent)}")
        return Agent.model_validate(response.json())

    async def list(self, *, limit: int | None = None) -> AsyncPage[Agent]:
        """Every agent, newest first (iterating the page walks all pages)."""
        return await self._page("/v1/agents", Agent, {"limit": limit})

    async def update(
        self,
        agent: str,
        *,
        description: str = NOT_GIVEN,
        model: str = NOT_GIVEN,
        instructions: str = NOT_GIVEN,
        tools: Sequence[ToolLike] = NOT_GIVEN,
        limits: dict[str, Any] = NOT_GIVEN,
        model_settings: dict[str, Any] = NOT_GIVEN,
        include_builtin_tools: bool = NOT_GIVEN,
        builtin_tools: Sequence[str] | None = NOT_GIVEN,
        environment: dict[str, Any] = NOT_GIVEN,
        skills: Sequence[dict[str, str]] = NOT_GIVEN,
        metadata: dict[str, str] = NOT_GIVEN,
        spend_limits: dict[str, float | None] = NOT_GIVEN,
        permissions: dict[str, Any] = NOT_GIVEN,
    ) -> Agent:
        """Change fields; a change makes a new version (the same spec again does not)."""
        body = _agent_body(
            tools,
            description=description,
            model=model,
            instructions=instructions,
            limits=limits,
            model_settings=model_settings,
            include_builtin_tools=include_builtin_tools,
            builtin_tools=builtin_tools,
            environment=environment,
            skills=skills,
            metadata=metadata,
            spend_limits=spend_limits,
            permissions=permissions,
        )
        response = await self._client.request("PATCH", f"/v1/agents/{segment(agent)}", json=body)
        return Agent.model_validate(response.json())

    async def delete(self, agent: str) -> None:
        """Delete an agent and its versions."""
        await self._client.request("DELETE", f"/v1/agents/{segment(agent)}")

    async def versions(self, agent: str) -> builtins.list[AgentVersion]:
        """Every version of an agent, newest first."""
        response = await self._client.request("GET", f"/v1/agents/{segment(agent)}/versions")
        return [AgentVersion.model_validate(v) for v in response.json()["data"]]
