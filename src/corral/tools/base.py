"""What a server-side tool is, and the bounds every tool output obeys."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from corral.sandbox.channel import Answer, Progress
from corral.sandbox.egress import EgressPolicy

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


class Workspace(Protocol):
    """The run's environment as its tools reach it: requests to the tool server inside."""

    async def call(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        *,
        timeout_s: float,
        payload: bytes = b"",
        max_payload: int = 0,
        progress: Progress | None = None,
    ) -> Answer:
        """Send one request; raises `EnvironmentLost` when the environment failed."""
        ...


@dataclass(frozen=True, kw_only=True)
class ToolContext:
    """What a tool may know about the run calling it."""

    run_id: str
    workspace_id: str
    """The tenant (Corral workspace) the run belongs to."""
    workspace: Workspace | None = None
    """The run's environment; None for tools that need none."""
    egress: EgressPolicy = field(default_factory=EgressPolicy)
    """Where requests the server makes for the run (`web_fetch`) may go: the run's networking
    and the operator's private hosts. The default reaches public addresses only."""
    on_output: Callable[[str], None] | None = None
    """Where a running command's output goes, piece by piece as it comes (`bash` streams it
    there); None when nobody watches the call."""


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

    @property
    def rerun_safe(self) -> bool:
        """Whether a call cut off by a worker's death may run again (no effects, or idempotent)."""
        ...

    async def run(self, arguments: dict[str, Any], context: ToolContext) -> ToolOutcome:
        """Execute one call; failures the model should see are returned, not raised."""
        ...
