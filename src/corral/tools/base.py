"""What a server-side tool is, and the bounds every tool output obeys."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from corral.tools.workspace import Workspace

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
    """The tenant (Corral workspace) the run belongs to."""
    workdir: Workspace | None = None
    """The run's files, sandbox and jobs; None for tools that need none."""
    private_hosts: tuple[str, ...] = ()
    """Hosts `web_fetch` may reach although they resolve to private addresses (operator's
    choice, e.g. an internal documentation server)."""


class ToolFailure(Exception):
    """A failure the model should read as the tool's error (not a bug of Corral)."""


def object_schema(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    """A JSON Schema of an arguments object."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


class Tool(Protocol):
    """A tool Corral executes itself."""

    @property
    def name(self) -> str:
        """What the model calls it."""
        ...

    @property
    def description(self) -> str:
        """What it does, for the model."""
        ...

    @property
    def parameters(self) -> dict[str, Any]:
        """JSON Schema of its arguments."""
        ...

    @property
    def needs_files(self) -> bool:
        """Whether the tool works in the run's workspace (so it must exist first)."""
        ...

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Execute one call; failures the model should see are returned, not raised."""
        ...
