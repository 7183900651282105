"""All MCP servers of one run: connected together, their tools in one list, failures named."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from corral.domain.run_spec import McpServerSpec
from corral.sandbox.egress import EgressPolicy
from corral.tools.base import ToolOutcome
from corral.tools.mcp import McpConnection, McpUnavailable
from corral.tools.mcp_specs import McpTool
from corral.tools.mcp_stdio import Launcher

__all__ = ["McpToolbox"]


class McpToolbox:
    """All MCP servers of one run: their tools in one list, and which servers failed."""

    def __init__(self, connections: list[McpConnection], failures: dict[str, str]) -> None:
        self.connections = connections
        self.failures = failures
        """Servers that could not be used, by name, with the reason."""
        self.tools = [tool for connection in connections for tool in connection.tools]
        """Tools in spec order, then in each server's order."""
        self._by_name = {
            tool.name: (connection, tool) for connection in connections for tool in connection.tools
        }

    @classmethod
    async def connect(
        cls,
        specs: Sequence[McpServerSpec],
        *,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
    ) -> McpToolbox:
        """Connect to every server at once; one that fails is recorded, not raised.

        Remote servers are reached only where `egress` allows (default: public addresses).
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
        return cls(connections, failures)

    def find(self, name: str) -> McpTool | None:
        """The tool the model calls `name`, if an MCP server offers it."""
        found = self._by_name.get(name)
        return found[1] if found else None

    async def call(self, name: str, arguments: dict[str, Any]) -> ToolOutcome:
        """Call the tool the model calls `name`."""
        found = self._by_name.get(name)
        if found is None:
            return ToolOutcome(error=f"no MCP tool is named {name}")
        connection, tool = found
        return await connection.call(tool, arguments)

    async def close(self) -> None:
        """Close every session and stop every stdio server."""
        await asyncio.gather(*(connection.close() for connection in self.connections))
