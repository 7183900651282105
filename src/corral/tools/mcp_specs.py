"""What a run's MCP servers offer: their tools, and how those are named for the model.

The servers themselves are part of the run spec (`domain.run_spec.McpServerSpec`). Plain
values with no I/O; `tool_name` is the rule that keeps every MCP tool's name valid for the
model and distinct from builtin, client and other servers' tools.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

_VALID_NAME = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_INVALID_CHARS = re.compile(r"[^A-Za-z0-9_-]")


def tool_name(server: str, remote_name: str) -> str:
    """The name a server's tool is offered to the model under: always `<server>__<tool>`.

    The prefix keeps MCP tools apart from builtin and client tools and from each other, and a
    name does not change when a server adds a tool. When `<server>__<tool>` is not a valid model
    tool name (`^[A-Za-z0-9_-]{1,64}$`), other characters become `_`, the name is cut to 55
    characters and `_` plus 8 hex digits of the SHA-256 of `<server>__<tool>` are appended, so
    two tools never share a name.
    """
    joined = f"{server}__{remote_name}"
    if _VALID_NAME.match(joined):
        return joined
    digest = hashlib.sha256(joined.encode()).hexdigest()[:8]
    return f"{_INVALID_CHARS.sub('_', joined)[:55]}_{digest}"


@dataclass(frozen=True)
class McpTool:
    """A tool of an MCP server, as the model sees it."""

    server: str
    """Name of the server that runs it."""
    name: str
    """Name the model calls it by (see `tool_name`)."""
    remote_name: str
    """Name the server knows it by."""
    description: str
    """What the tool does, in the server's words."""
    parameters: dict[str, Any]
    """JSON Schema of the arguments, as the server declares it."""
    rerun_safe: bool = False
    """Whether a call cut off by a worker's death may run again: the server's reference is
    marked `idempotent`, or the server says the tool is read-only or idempotent."""
