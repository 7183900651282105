"""Tool references an agent or run can use, and tool-call shapes of the protocol."""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from corral.types.common import ParamsModel, WireModel

_TOOL_NAME = re.compile(r"^[a-zA-Z0-9_-]{1,64}$")
ToolName = Annotated[str, Field(pattern=_TOOL_NAME.pattern)]


class BuiltinToolRef(ParamsModel):
    """A tool Corral runs in the run's workspace."""

    type: Literal["builtin"]
    name: ToolName
    """Name of the builtin tool."""


class ClientToolRef(ParamsModel):
    """A tool executed by the caller: the run waits for its result."""

    type: Literal["client"]
    name: ToolName
    """Name the model calls the tool by."""
    description: Annotated[str, Field(max_length=10_000)] = ""
    """What the tool does, for the model."""
    parameters: dict[str, Any] = Field(default_factory=lambda: {"type": "object", "properties": {}})
    """JSON Schema of the tool's arguments (an object schema)."""
    timeout_s: Annotated[float, Field(gt=0, le=86_400)] | None = None
    """How long the run waits for a result (default: the server's `client_tool_timeout_s`)."""

    @model_validator(mode="after")
    def _object_schema(self) -> ClientToolRef:
        if self.parameters.get("type", "object") != "object":
            raise PydanticCustomError(
                "object_schema",
                "parameters must be a JSON Schema of type 'object'",
                {"field": "parameters"},
            )
        return self


class McpToolRef(ParamsModel):
    """The tools of an MCP server: a remote one (`url`) or a local one run in the sandbox."""

    type: Literal["mcp"]
    name: ToolName
    """Name of the server; its tools are offered to the model as `<name>__<tool>`."""
    url: Annotated[str, Field(max_length=2_000, pattern=r"^https?://")] | None = None
    """Streamable HTTP endpoint of a remote server."""
    headers: Annotated[dict[str, Annotated[str, Field(max_length=8_000)]], Field(max_length=32)] = (
        Field(default_factory=dict)
    )
    """Headers sent to a remote server, e.g. `Authorization: Bearer ${secret:NAME}` (a
    reference to the workspace's vault, filled in when the run starts)."""
    command: Annotated[str, Field(min_length=1, max_length=1_000)] | None = None
    """Program of a local (stdio) server, run inside the run's sandbox."""
    args: Annotated[list[Annotated[str, Field(max_length=4_000)]], Field(max_length=64)] = Field(
        default_factory=list
    )
    """Arguments of `command`."""
    env: Annotated[dict[str, Annotated[str, Field(max_length=8_000)]], Field(max_length=64)] = (
        Field(default_factory=dict)
    )
    """Environment variables of a local server (`${secret:NAME}` references the vault)."""
    tools: Annotated[list[ToolName], Field(max_length=256)] | None = None
    """Only these of the server's tools (default: all)."""
    connect_timeout_s: Annotated[float, Field(gt=0, le=600)] = 30.0
    """Connecting, initializing and listing tools must take at most this long."""
    call_timeout_s: Annotated[float, Field(gt=0, le=86_400)] = 1_800.0
    """One tool call must take at most this long."""
    idempotent: bool = False
    """Its tools may simply run again when a worker's death cut a call off. Otherwise such a
    call is answered "interrupted, effects unknown", unless the server marks the tool read-only
    or idempotent."""

    @model_validator(mode="after")
    def _one_transport(self) -> McpToolRef:
        if (self.url is None) == (self.command is None):
            raise PydanticCustomError(
                "mcp_transport", "give exactly one of 'url' or 'command'", {"field": "url"}
            )
        return self


class AgentToolRef(ParamsModel):
    """A stored agent offered as a tool: each call runs it as a subagent and waits for its answer.

    The model passes a `task`, the child run's input; the call's result is the child's output.
    The agent's version is pinned when the run (or session) is created.
    """

    type: Literal["agent"]
    agent: Annotated[str, Field(min_length=1, max_length=100)]
    """Name or id of a stored agent of the workspace."""
    name: ToolName | None = None
    """Name the model calls the tool by (default: the agent's name)."""
    description: Annotated[str, Field(max_length=10_000)] = ""
    """What the agent does, for the model (default: the agent's description)."""

    @model_validator(mode="after")
    def _named(self) -> AgentToolRef:
        if self.name is None:
            name = self.agent.replace(".", "_")
            if not _TOOL_NAME.fullmatch(name):
                raise PydanticCustomError(
                    "tool_name",
                    "the agent's name is not a tool name: give the tool a 'name'",
                    {"field": "name"},
                )
            self.name = name
        return self


class SubagentToolRef(ParamsModel):
    """The `subagent` and `subagent_result` tools: the model starts ad-hoc child runs.

    `subagent` starts a child with the instructions, prompt and builtin tools the model gives
    (a subset of this run's) and answers at once with its run id; `subagent_result` waits for a
    child's end and answers with its output.
    """

    type: Literal["subagent"]
    name: ToolName = "subagent"
    """Name of the starting tool; the waiting one is `<name>_result`."""
    models: Annotated[list[Annotated[str, Field(max_length=200)]], Field(max_length=16)] = Field(
        default_factory=list
    )
    """Models a child may use besides the run's own."""


ToolRef = Annotated[
    BuiltinToolRef | ClientToolRef | McpToolRef | AgentToolRef | SubagentToolRef,
    Field(discriminator="type"),
]


class ToolCall(WireModel):
    """A call the model made that awaits a result from the caller."""

    call_id: str
    name: str
    input: dict[str, Any]


class ToolResultParams(ParamsModel):
    """The caller's answer to a client tool call: exactly one of `output` or `error`."""

    call_id: Annotated[str, Field(min_length=1, max_length=128)]
    """The `call_id` of the `client_tool.call` event."""
    output: Annotated[str, Field(max_length=1_000_000)] | None = None
    """The tool's result, as a string (serialize structured results as JSON)."""
    error: Annotated[str, Field(max_length=100_000)] | None = None
    """Why the tool failed; the model sees it as a tool error."""

    @model_validator(mode="after")
    def _exactly_one(self) -> ToolResultParams:
        if (self.output is None) == (self.error is None):
            raise PydanticCustomError(
                "one_result",
                "give exactly one of 'output' or 'error'",
                {"field": "error" if self.output is not None else "output"},
            )
        return self


class ToolResultAccepted(WireModel):
    """Acknowledgement of a tool result."""

    run_id: str
    call_id: str
    accepted: bool = True
