"""All MCP servers of one run: connected together, their tools in one list, failures named."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any

from corral.domain.events import EventPayload
from corral.domain.run_spec import McpServerSpec
from corral.sandbox.egress import EgressPolicy
from corral.tools.base import ToolOutcome
from corral.tools.mcp import McpConnection, McpUnavailable
from corral.tools.mcp_reconnect import Backoff, McpServer
from corral.tools.mcp_specs import McpTool
from corral.tools.mcp_stdio import Launcher

__all__ = ["McpToolbox"]

Emit = Callable[[EventPayload], None]


class McpToolbox:
    """All MCP servers of one run: their tools in one list, and which servers failed.

    A server whose connection is lost mid-run is connected again (`mcp_reconnect`); the events
    saying so are written by `emit`, from the task that calls a tool, when it calls one.
    """

    def __init__(
        self,
        connections: list[McpConnection],
        failures: dict[str, str],
        *,
        emit: Emit | None = None,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self._emit = emit
        self._queued: list[EventPayload] = []
        self.servers = [
            McpServer(
                connection,
                report=self._queued.append,
                launcher=launcher,
                egress=egress,
                backoff=backoff,
            )
            for connection in connections
        ]
        self.failures = failures
        """Servers that could not be used at the start, by name, with the reason."""
        self.tools = [tool for server in self.servers for tool in server.tools]
        """Tools in spec order, then in each server's order (as at the start, for the whole run)."""
        self._by_name = {
            tool.name: (server, tool) for server in self.servers for tool in server.tools
        }

    @classmethod
    async def connect(
        cls,
        specs: Sequence[McpServerSpec],
        *,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
        emit: Emit | None = None,
        backoff: Backoff | None = None,
    ) -> McpToolbox:
        """Connect to every server at once; one that fails is recorded, not raised.

        Remote servers are reached only where `egress` allows (default: public addresses).
        `emit` writes the reconnection events to the run's log (none without it).
        """
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"MCP server names must be unique: {names}")
        opened = await asyncio.gather(
            *(McpConnection.open(spec, launcher=launcher, egress=egress) for spec in specs),
            return_exceptions=True,
        )
        connections = [result for result in opened if isinstance(result, McpConnection)]
        failures = {
            spec.name: result.reason
            for spec, result in zip(specs, opened, strict=True)
            if isinstance(result, McpUnavailable)
        }
        for result in opened:
            if isinstance(result, BaseException) and not isinstance(result, McpUnavailable):
                await asyncio.gather(*(connection.close() for connection in connections))
                raise result
        return cls(
            connections, failures, emit=emit, launcher=launcher, egress=egress, backoff=backoff
        )

    def find(self, name: str) -> McpTool | None:
        """The tool the model calls `name`, if an MCP server offers it."""
        found = self._by_name.get(name)
        return found[1] if found else None

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call the tool the model calls `name`, waiting for its server to be reconnected."""
        found = self._by_name.get(name)
        if found is None:
            return ToolOutcome(error=f"no MCP tool is named {name}")
        server, tool = found
        self.flush()
        outcome = await server.call(tool, arguments)
        self.flush()
        return outcome

    def flush(self) -> None:
        """Write the reconnection events queued since the last call (from the calling task)."""
        queued, self._queued[:] = list(self._queued), []
        if self._emit is not None:
            for event in queued:
                self._emit(event)

    async def close(self) -> None:
        """Stop reconnecting, close every session and stop every stdio server."""
        await asyncio.gather(*(server.close() for server in self.servers))
