"""Resolves a run's tools: what the model sees, in which order, and who executes each call.

The order is the one users of such platforms expect: builtin tools, then the caller's own
(client) tools, then the tools that start subagents, then the tools of MCP servers.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from corral.domain.run_spec import BuiltinTool, RunSpec
from corral.domain.subagents import (
    ChildRequest,
    Refusal,
    agent_request,
    spawn_request,
)
from corral.domain.tools import ToolSchema
from corral.errors import InvalidRequest
from corral.tools.base import Tool, ToolContext, ToolOutcome
from corral.tools.builtin import BUILTIN_TOOLS
from corral.tools.mcp_specs import McpTool

if TYPE_CHECKING:  # the MCP SDK is loaded only by runs that use MCP servers
    from corral.tools.mcp_toolbox import McpToolbox

CLIENT = "client"
SERVER = "server"
CHILD = "child"


def validate_refs(refs: Sequence[dict[str, Any]], *, field: str = "/tools") -> None:
    """Reject references to tools this server does not have, and a name used twice."""
    seen: set[str] = set()
    names = {ref["name"] for ref in refs}
    for index, ref in enumerate(refs):
        if ref["name"] in seen:
            raise InvalidRequest(
                f"tool name {ref['name']!r} is used twice", field=f"{field}/{index}/name"
            )
        seen.add(ref["name"])
        if ref["type"] == "subagent" and ref["name"] + "_result" in names:
            raise InvalidRequest(
                f"tool name {ref['name'] + '_result'!r} is used twice",
                field=f"{field}/{index}/name",
            )
        if ref["type"] == "builtin" and ref["name"] not in BUILTIN_TOOLS:
            raise InvalidRequest(
                f"unknown builtin tool {ref['name']!r} (available: {', '.join(BUILTIN_TOOLS)})",
                field=f"{field}/{index}/name",
            )


def resolve_builtins(spec: dict[str, Any], *, field: str = "/builtin_tools") -> list[str]:
    """The builtin tools an agent spec offers, in their canonical order."""
    if not spec.get("include_builtin_tools", True):
        return []
    chosen = spec.get("builtin_tools")
    if chosen is None:
        return list(BUILTIN_TOOLS)
    for index, name in enumerate(chosen):
        if name not in BUILTIN_TOOLS:
            raise InvalidRequest(
                f"unknown builtin tool {name!r} (available: {', '.join(BUILTIN_TOOLS)})",
                field=f"{field}/{index}",
            )
    return [name for name in BUILTIN_TOOLS if name in chosen]


class _McpCall:
    """An MCP server's tool, executed like any server-side tool."""

    needs_files = False

    def __init__(self, toolbox: McpToolbox, tool: McpTool) -> None:
        self.name = tool.name
        self.server = tool.server
        self.description = tool.description
        self.parameters = tool.parameters
        self.rerun_safe = tool.rerun_safe
        self._toolbox = toolbox

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        return await self._toolbox.call(self.name, arguments)


class ToolSet:
    """The tools of one run."""

    def __init__(self, spec: RunSpec) -> None:
        explicit = {ref.name for ref in spec.tools if isinstance(ref, BuiltinTool)}
        chosen = set(spec.builtin_tools) | explicit
        self._builtins = [name for name in BUILTIN_TOOLS if name in chosen]
        self._clients = {ref.name: ref for ref in spec.client_tools}
        self._agents = {ref.name: ref for ref in spec.agent_tools}
        self._subagent = spec.subagent_tool
        self.mcp_servers = spec.mcp_servers
        self._mcp: dict[str, _McpCall] = {}

    def attach(self, toolbox: McpToolbox) -> None:
        """Offer the tools of the connected MCP servers."""
        self._mcp = {tool.name: _McpCall(toolbox, tool) for tool in toolbox.tools}

    def schemas(self) -> list[ToolSchema]:
        """The tools as offered to the model, in order."""
        schemas = [
            ToolSchema(
                name=name,
                description=BUILTIN_TOOLS[name].description,
                parameters=BUILTIN_TOOLS[name].parameters,
                kind="builtin",
            )
            for name in self._builtins
        ]
        schemas += [
            ToolSchema(
                name=ref.name,
                description=ref.description,
                parameters=ref.schema,
                kind="client",
            )
            for ref in self._clients.values()
        ]
        schemas += [
            ToolSchema(
                name=ref.name,
                description=ref.description
                or f"Give a task to the agent {ref.agent!r}, which "
                "does it in a run of its own and answers.",
                parameters=ref.parameters,
                kind="agent",
            )
            for ref in self._agents.values()
        ]
        if (subagent := self._subagent) is not None:
            schemas += [
                ToolSchema(
                    name=subagent.name,
                    description="Start a subagent: a run of its own for a task you describe "
                    "completely, running while you go on. Answers with its run_id at once.",
                    parameters=subagent.spawn_parameters(self._builtins),
                    kind="agent",
                ),
                ToolSchema(
                    name=subagent.result_name,
                    description="Wait for a subagent's end and read its answer.",
                    parameters=subagent.result_parameters,
                    kind="agent",
                ),
            ]
        schemas += [
            ToolSchema(name=t.name, description=t.description, parameters=t.parameters, kind="mcp")
            for t in self._mcp.values()
        ]
        return schemas

    def kind(self, name: str) -> str:
        """Who executes a call of `name`: `client` (the caller), `child` or `server`."""
        if name in self._clients:
            return CLIENT
        subagent = self._subagent
        if name in self._agents or (
            subagent is not None and name in (subagent.name, subagent.result_name)
        ):
            return CHILD
        return SERVER

    def awaits_child(self, name: str) -> bool:
        """Whether a call of `name` names the child it waits for (`subagent_result`)."""
        return self._subagent is not None and name == self._subagent.result_name

    def child_request(self, name: str, arguments: dict[str, Any]) -> ChildRequest | Refusal:
        """The child a call of an agent tool or of `subagent` starts."""
        agent = self._agents.get(name)
        if agent is not None:
            return agent_request(agent, arguments)
        assert self._subagent is not None and name == self._subagent.name
        return spawn_request(self._subagent, arguments, builtins=self._builtins)

    def client_timeout_s(self, name: str, default: float) -> float:
        """How long a run waits for the caller's result of this client tool."""
        ref = self._clients.get(name)
        return ref.timeout_s if ref is not None and ref.timeout_s else default

    def mcp_server_of(self, name: str) -> str | None:
        """The MCP server whose tool `name` is, if it is one's."""
        call = self._mcp.get(name)
        return call.server if call is not None else None

    def server_tool(self, name: str) -> Tool | None:
        """The tool Corral runs for `name`, or None when the model named no such tool."""
        if name in self._builtins:
            return BUILTIN_TOOLS[name]
        return self._mcp.get(name)
