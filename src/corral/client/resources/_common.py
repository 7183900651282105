"""Helpers the resource modules share: tool references and path segments."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from corral.client._tools import Tool, as_tool

ToolLike = Tool | Callable[..., Any] | dict[str, Any]


def segment(value: str) -> str:
    """A value quoted for use as one path segment."""
    return quote(value, safe="")


def tool_refs(tools: Sequence[ToolLike]) -> list[dict[str, Any]]:
    """Tool references for a request: dicts as given, functions and `Tool`s as client tools."""
    return [tool if isinstance(tool, dict) else as_tool(tool).to_ref() for tool in tools]


def local_tools(tools: Sequence[ToolLike]) -> dict[str, Tool]:
    """The tools this process executes, by name."""
    found: dict[str, Tool] = {}
    for tool in tools:
        if not isinstance(tool, dict):
            resolved = as_tool(tool)
            found[resolved.name] = resolved
    return found
