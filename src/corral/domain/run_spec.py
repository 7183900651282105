"""A run's spec: what it executes, frozen when it is submitted and typed once when read.

The spec is stored as JSON with its run (and its session). `parse_run_spec` is the one way that
JSON becomes a `RunSpec`, and `RunSpec.to_json` the one way back. Parsing is lenient: a spec
stored by an older version may lack a key (its default applies) or hold one no longer used
(ignored), and the submit-time validation already happened in the wire types.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from corral.domain.budgets import Budget
from corral.domain.permissions import Permissions, parse_permissions
from corral.domain.subagents import (
    AgentTool,
    SubagentTool,
    parse_agent_tool,
    parse_subagent_tool,
)
from corral.errors import InvalidRequest

__all__ = [
    "BuiltinTool",
    "ClientTool",
    "InputFile",
    "McpServerSpec",
    "ModelSettings",
    "NetworkMode",
    "Networking",
    "RunEnvironment",
    "RunSpec",
    "SkillFile",
    "SubagentTool",
    "ToolRef",
    "merge_tools",
    "parse_run_spec",
    "parse_skills",
    "parse_tool_ref",
]

NetworkMode = Literal["open", "limited", "none"]


def _no_arguments() -> dict[str, Any]:
    return {"type": "object", "properties": {}}


@dataclass(frozen=True, kw_only=True, slots=True)
class BuiltinTool:
    """A builtin workspace tool the spec names explicitly."""

    name: str

    def to_json(self) -> dict[str, Any]:
        """The reference as stored."""
        return {"type": "builtin", "name": self.name}


@dataclass(frozen=True, kw_only=True, slots=True)
class ClientTool:
    """A tool the caller executes: the run waits for its result."""

    name: str
    description: str = ""
    parameters: Mapping[str, Any] = field(default_factory=_no_arguments)
    """JSON Schema of the arguments, as given (`schema` is what the model is shown)."""
    timeout_s: float | None = None
    """How long the run waits for a result (None: the server's default)."""

    @property
    def schema(self) -> dict[str, Any]:
        """The arguments' JSON Schema; an empty one means an object of no properties."""
        return dict(self.parameters) if self.parameters else _no_arguments()

    def to_json(self) -> dict[str, Any]:
        """The reference as stored."""
        return {
            "type": "client",
            "name": self.name,
            "description": self.description,
            "parameters": dict(self.parameters),
            "timeout_s": self.timeout_s,
        }


@dataclass(frozen=True, kw_only=True)
class McpServerSpec:
    """One MCP server a run uses: remote (`url`) or a local stdio process (`command`)."""

    name: str
    """Name of the server reference; prefixes its tools' names."""
    url: str | None = None
    """Streamable HTTP endpoint of a remote server."""
    headers: dict[str, str] = field(default_factory=dict)
    """Headers sent with every request to `url`, e.g. `Authorization`."""
    command: str | None = None
    """Program of a stdio server."""
    args: tuple[str, ...] = ()
    """Arguments of `command`."""
    env: dict[str, str] = field(default_factory=dict)
    """Environment of `command`, on top of HOME, LOGNAME, PATH, SHELL, TERM and USER (nothing
    else of Corral's own environment reaches the server)."""
    connect_timeout_s: float = 30.0
    """Connecting, initializing and listing tools must take at most this long."""
    call_timeout_s: float = 1800.0
    """One `tools/call` must be answered within this long."""
    tools: tuple[str, ...] | None = None
    """Only these of the server's tools, by the server's names (None: all)."""
    idempotent: bool = False
    """Its tools may run again after a worker's death cut a call off (no effects, or the same
    effect twice as once)."""

    def __post_init__(self) -> None:
        if (self.url is None) == (self.command is None):
            raise ValueError(f"MCP server {self.name!r}: give exactly one of url or command")

    def to_json(self) -> dict[str, Any]:
        """The reference as stored."""
        return {
            "type": "mcp",
            "name": self.name,
            "url": self.url,
            "headers": dict(self.headers),
            "command": self.command,
            "args": list(self.args),
            "env": dict(self.env),
            "tools": list(self.tools) if self.tools is not None else None,
            "connect_timeout_s": self.connect_timeout_s,
            "call_timeout_s": self.call_timeout_s,
            "idempotent": self.idempotent,
        }


ToolRef = BuiltinTool | ClientTool | McpServerSpec | AgentTool | SubagentTool


def parse_tool_ref(data: Mapping[str, Any]) -> ToolRef:
    """A stored tool reference, typed."""
    kind, name = data["type"], data["name"]
    if kind == "builtin":
        return BuiltinTool(name=name)
    if kind == "client":
        return ClientTool(
            name=name,
            description=data.get("description") or "",
            parameters=data["parameters"] if "parameters" in data else _no_arguments(),
            timeout_s=float(data["timeout_s"]) if data.get("timeout_s") else None,
        )
    if kind == "mcp":
        return McpServerSpec(
            name=name,
            url=data.get("url"),
            headers=dict(data.get("headers") or {}),
            command=data.get("command"),
            args=tuple(data.get("args") or ()),
            env=dict(data.get("env") or {}),
            connect_timeout_s=float(data.get("connect_timeout_s", 30.0)),
            call_timeout_s=float(data.get("call_timeout_s", 1_800.0)),
            tools=tuple(data["tools"]) if data.get("tools") is not None else None,
            idempotent=bool(data.get("idempotent", False)),
        )
    if kind == "agent":
        return parse_agent_tool(data)
    if kind == "subagent":
        return parse_subagent_tool(data)
    raise ValueError(f"unknown tool reference type {kind!r}")


def merge_tools(
    agent_tools: Sequence[ToolRef], run_tools: Sequence[ToolRef]
) -> tuple[ToolRef, ...]:
    """The agent's tools followed by the run's; a name may appear only once."""
    seen = {tool.name for tool in agent_tools}
    if len(seen) != len(agent_tools):
        raise InvalidRequest("the agent lists a tool name twice", field="/tools")
    for index, tool in enumerate(run_tools):
        if tool.name in seen:
            raise InvalidRequest(
                f"tool name {tool.name!r} is used twice", field=f"/tools/{index}/name"
            )
        seen.add(tool.name)
    return (*agent_tools, *run_tools)


@dataclass(frozen=True, kw_only=True, slots=True)
class Networking:
    """Where the agent's traffic may go.

    `allowed_hosts` is kept as stored: a pattern stored before patterns were checked at submit
    may be malformed, and the egress policy treats such a pattern as matching nothing.
    """

    mode: NetworkMode = "open"
    allowed_hosts: tuple[str, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class RunEnvironment:
    """The sandbox the run's tools execute in."""

    networking: Networking = field(default_factory=Networking)
    variables: Mapping[str, str] = field(default_factory=dict)
    runtime: str = "small"
    """`small`, `medium` or `large`."""
    setup: tuple[str, ...] = ()
    """Shell commands run once in the workspace before the first turn."""

    def to_json(self) -> dict[str, Any]:
        """The environment as stored."""
        return {
            "networking": {
                "mode": self.networking.mode,
                "allowed_hosts": list(self.networking.allowed_hosts),
            },
            "variables": dict(self.variables),
            "runtime": self.runtime,
            "setup": list(self.setup),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RunEnvironment:
        """A stored environment, typed."""
        networking = data.get("networking") or {}
        return cls(
            networking=Networking(
                mode=networking.get("mode", "open"),
                allowed_hosts=tuple(networking.get("allowed_hosts") or ()),
            ),
            variables=dict(data.get("variables") or {}),
            runtime=data.get("runtime") or "small",
            setup=tuple(data.get("setup") or ()),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelSettings:
    """Sampling and reasoning options; each adapter maps those its API understands."""

    temperature: float | None = None
    reasoning_effort: str | None = None
    """`minimal`, `low`, `medium` or `high` (OpenAI reasoning models, DeepSeek)."""
    thinking_budget_tokens: int | None = None
    """Enables Anthropic extended thinking with this many tokens."""

    def to_json(self) -> dict[str, Any]:
        """The settings as stored."""
        return {
            "temperature": self.temperature,
            "reasoning_effort": self.reasoning_effort,
            "thinking_budget_tokens": self.thinking_budget_tokens,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelSettings:
        """Stored settings, typed."""
        return cls(
            temperature=data.get("temperature"),
            reasoning_effort=data.get("reasoning_effort"),
            thinking_budget_tokens=data.get("thinking_budget_tokens"),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class InputFile:
    """A file placed in the run's workspace before its first turn: uploaded, or given inline."""

    path: str
    file_id: str | None = None
    content_base64: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The entry as stored: `{path, file_id}` or `{path, content_base64}`."""
        if self.file_id is not None:
            return {"path": self.path, "file_id": self.file_id}
        return {"path": self.path, "content_base64": self.content_base64}


@dataclass(frozen=True, kw_only=True, slots=True)
class SkillFile:
    """A skill installed in the run's workspace: an uploaded archive."""

    file_id: str

    def to_json(self) -> dict[str, Any]:
        """The entry as stored."""
        return {"file_id": self.file_id}


@dataclass(frozen=True, kw_only=True, slots=True)
class RunSpec:
    """What a run executes: its model, instructions, tools, environment and budget."""

    model: str
    """The catalog id the run calls (`provider/model`, or a bare id of the test provider)."""
    instructions: str = ""
    tools: tuple[ToolRef, ...] = ()
    """The agent's tools, then the run's."""
    builtin_tools: tuple[str, ...] = ()
    """The builtin tools offered besides those `tools` names."""
    environment: RunEnvironment = field(default_factory=RunEnvironment)
    limits: Budget
    model_settings: ModelSettings = field(default_factory=ModelSettings)
    files: tuple[InputFile, ...] = ()
    skills: tuple[SkillFile, ...] = ()
    permissions: Permissions = field(default_factory=Permissions)
    """The agent's, the session's and the run's permissions, merged."""

    @property
    def client_tools(self) -> Iterable[ClientTool]:
        """The tools the caller executes."""
        return (tool for tool in self.tools if isinstance(tool, ClientTool))

    @property
    def mcp_servers(self) -> list[McpServerSpec]:
        """The MCP servers whose tools the run offers."""
        return [tool for tool in self.tools if isinstance(tool, McpServerSpec)]

    @property
    def agent_tools(self) -> Iterable[AgentTool]:
        """Stored agents offered as tools."""
        return (tool for tool in self.tools if isinstance(tool, AgentTool))

    @property
    def subagent_tool(self) -> SubagentTool | None:
        """The ad-hoc subagent tools, if offered."""
        return next((tool for tool in self.tools if isinstance(tool, SubagentTool)), None)

    @property
    def has_inputs(self) -> bool:
        """Whether files or skills must be placed in the workspace first."""
        return bool(self.files or self.skills)

    def to_json(self) -> dict[str, Any]:
        """The spec as stored: `files`, `skills` and `permissions` only when there are some."""
        stored: dict[str, Any] = {
            "model": self.model,
            "instructions": self.instructions,
            "tools": [tool.to_json() for tool in self.tools],
            "builtin_tools": list(self.builtin_tools),
            "environment": self.environment.to_json(),
            "limits": self.limits.to_json(),
            "model_settings": self.model_settings.to_json(),
        }
        if self.skills:
            stored["skills"] = [skill.to_json() for skill in self.skills]
        if self.files:
            stored["files"] = [entry.to_json() for entry in self.files]
        if self.permissions:
            stored["permissions"] = self.permissions.to_json()
        return stored


def parse_run_spec(data: Mapping[str, Any]) -> RunSpec:
    """A stored spec, typed (see the module's docstring for what is tolerated)."""
    return RunSpec(
        model=data["model"],
        instructions=data.get("instructions") or "",
        tools=tuple(parse_tool_ref(ref) for ref in data.get("tools") or ()),
        builtin_tools=tuple(data.get("builtin_tools") or ()),
        environment=RunEnvironment.from_json(data.get("environment") or {}),
        limits=Budget.from_json(data["limits"]),
        model_settings=ModelSettings.from_json(data.get("model_settings") or {}),
        files=tuple(
            InputFile(
                path=entry["path"],
                file_id=entry.get("file_id"),
                content_base64=entry.get("content_base64"),
            )
            for entry in data.get("files") or ()
        ),
        skills=parse_skills(data.get("skills") or ()),
        permissions=parse_permissions(data.get("permissions")),
    )


def parse_skills(entries: Iterable[Mapping[str, Any]]) -> tuple[SkillFile, ...]:
    """Stored skill entries, typed."""
    return tuple(SkillFile(file_id=entry["file_id"]) for entry in entries)
