"""What a tool looks like to a model, whoever executes it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolSchema:
    """A tool as the model sees it."""

    name: str
    description: str
    parameters: dict[str, Any]
    kind: str = "client"
    """Who executes it: `builtin`, `client`, `agent` (a subagent) or `mcp`."""
