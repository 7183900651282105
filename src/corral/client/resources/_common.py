"""Helpers the resource modules share: tool references and path segments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from corral.client._tools import Tool, as_tool
from corral.types.tools import (
    AgentToolRef,
    BuiltinToolRef,
    ClientToolRef,
    McpToolRef,
    SubagentToolRef,
)

ToolRefModel = BuiltinToolRef | ClientToolRef | McpToolRef | AgentToolRef | SubagentToolRef
"""A tool reference written as its wire model, e.g. `AgentToolRef(type="agent", agent="x")`."""

ToolLike = Tool | ToolRefModel | Callable[..., Any] | dict[str, Any]

_REF_MODELS = (BuiltinToolRef, ClientToolRef, McpToolRef, AgentToolRef, SubagentToolRef)


def segment(value: str) -> str:
    """A value quoted for use as one path segment."""
    return quote(value, safe="")


def tool_ref(tool: ToolLike) -> dict[str, Any]:
    """One tool reference for a request.

    Dicts go as given, wire models as the fields set on them, functions and `Tool`s as client
    tools (which this process executes).
    """
    if isinstance(tool, dict):
        return tool
    if isinstance(tool, _REF_MODELS):
        return tool.model_dump(mode="json", exclude_unset=True)
    return as_tool(tool).to_ref()


def tool_refs(tools: Sequence[ToolLike]) -> list[dict[str, Any]]:
    """Tool references for a request (see `tool_ref`)."""
    return [tool_ref(tool) for tool in tools]


def spec_body(spec: dict[str, Any] | None) -> dict[str, Any] | None:
    """An inline agent spec whose `tools` may be written as wire models, ready to send as JSON.

    Only references are converted: client tools go in `tools=`, where this process runs them.
    """
    if spec is None or not isinstance(spec.get("tools"), list | tuple):
        return spec
    tools = [
        tool.model_dump(mode="json", exclude_unset=True) if isinstance(tool, _REF_MODELS) else tool
        for tool in spec["tools"]
    ]
    return {**spec, "tools": tools}


def local_tools(tools: Sequence[ToolLike]) -> dict[str, Tool]:
    """The tools this process executes, by name."""
    found: dict[str, Tool] = {}
    for tool in tools:
        if not isinstance(tool, (dict, *_REF_MODELS)):
            resolved = as_tool(tool)
            found[resolved.name] = resolved
    return found
