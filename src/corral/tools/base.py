"""What a server-side tool is, and the bounds every tool output obeys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

MAX_OUTPUT_CHARS = 50_000
"""Longest tool output given to the model or written to an event."""

_MARKER = "\n[... output truncated: {omitted} of {total} characters omitted ...]\n"


def bound_output(text: str, limit: int = MAX_OUTPUT_CHARS) -> str:
    """`text`, or its head and tail with a marker when it is longer than `limit`."""
    if len(text) <= limit:
        return text
    keep = limit // 2
    marker = _MARKER.format(omitted=len(text) - 2 * keep, total=len(text))
    return text[:keep] + marker + text[-keep:]


@dataclass(frozen=True, kw_only=True)
class ToolOutcome:
    """What a tool call produced: an output, or an error the model is told about."""

    output: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call succeeded."""
        return self.error is None


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """What a tool may know about the run calling it."""

    run_id: str
    workspace_id: str


class Tool(Protocol):
    """A tool Corral executes itself."""

    name: str
    description: str
    parameters: dict[str, Any]

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Execute one call; failures the model should see are returned, not raised."""
        ...
