"""What an MCP server lists, turned into the tools a run offers its model.

Kept apart from the connection: the same rule applies when a server is first connected and when
it is connected again mid-run, where a tool the spec names may have gone.
"""

from __future__ import annotations

from mcp import ClientSession, types

from corral.domain.run_spec import McpServerSpec
from corral.tools.mcp_specs import McpTool, tool_name

__all__ = ["list_tools", "offered"]


async def list_tools(session: ClientSession) -> list[types.Tool]:
    """Every tool the server lists, across pages."""
    listed: list[types.Tool] = []
    cursor: str | None = None
    while True:
        params = types.PaginatedRequestParams(cursor=cursor) if cursor else None
        page = await session.list_tools(params=params)
        listed.extend(page.tools)
        cursor = page.next_cursor
        if not cursor:
            return listed


def offered(
    spec: McpServerSpec, listed: list[types.Tool], missing_ok: bool = False
) -> list[McpTool]:
    """The listed tools the spec allows, as offered to the model.

    Raises:
        LookupError: `spec.tools` names a tool the server lacks (unless `missing_ok`).
    """
    wanted = spec.tools
    if wanted is not None:
        missing = sorted(set(wanted) - {tool.name for tool in listed})
        if missing and not missing_ok:
            has = ", ".join(tool.name for tool in listed) or "none"
            raise LookupError(f"no tool named {', '.join(missing)} (it has: {has})")
        listed = [tool for tool in listed if tool.name in wanted]
    return [
        McpTool(
            server=spec.name,
            name=tool_name(spec.name, tool.name),
            remote_name=tool.name,
            description=tool.description or tool.title or "",
            parameters={"type": "object", **tool.input_schema},
            rerun_safe=spec.idempotent or _says_rerun_safe(tool),
        )
        for tool in listed
    ]


def _says_rerun_safe(tool: types.Tool) -> bool:
    """Whether the server marks the tool read-only or idempotent (its own hints, MCP 2025-03)."""
    hints = tool.annotations
    return hints is not None and bool(hints.read_only_hint or hints.idempotent_hint)
