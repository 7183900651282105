"""Agents: the body of create and update, and the agent object answers carry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from corral.compat.anthropic.wire.common import CursorPage, Metadata, MetadataPatch, Params, Wire
from corral.compat.anthropic.wire.rosters import Multiagent

AGENT_TOOL_NAMES = ("bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search")
"""The tools of `agent_toolset_20260401`, in the API's order."""

AgentToolName = Literal["bash", "edit", "read", "write", "glob", "grep", "web_fetch", "web_search"]


class PermissionPolicy(Params):
    """Who lets a call run: `always_allow`, `always_ask` (a person confirms) or `auto`."""

    type: Literal["always_allow", "always_ask", "auto"]


class ToolsetDefault(Params):
    """What applies to every tool of a toolset that no config names."""

    enabled: bool | None = True
    permission_policy: PermissionPolicy | None = None


class AgentToolConfig(Params):
    """One builtin tool's enablement and policy."""

    type: AgentToolName
    name: AgentToolName | None = None
    enabled: bool | None = True
    permission_policy: PermissionPolicy | None = None
    allowed_domains: list[str] | None = None
    blocked_domains: list[str] | None = None
    max_content_tokens: int | None = None
    url_sources: dict[str, Any] | None = None
    user_location: dict[str, Any] | None = None


class AgentToolset(Params):
    """The builtin tools, as a group (Corral's builtin tools)."""

    type: Literal["agent_toolset_20260401"]
    default_config: ToolsetDefault | None = None
    configs: Annotated[list[AgentToolConfig], Field(max_length=16)] = Field(default_factory=list)


class McpToolConfig(Params):
    """One MCP tool's enablement and policy."""

    name: Annotated[str, Field(min_length=1, max_length=256)]
    enabled: bool | None = True
    permission_policy: PermissionPolicy | None = None


class McpToolset(Params):
    """The tools of one of the agent's MCP servers."""

    type: Literal["mcp_toolset"]
    mcp_server_name: Annotated[str, Field(min_length=1, max_length=64)]
    default_config: ToolsetDefault | None = None
    configs: Annotated[list[McpToolConfig], Field(max_length=256)] = Field(default_factory=list)


class CustomToolSchema(Params):
    """A custom tool's input, as JSON Schema."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    type: Literal["object"] = "object"
    properties: dict[str, Any] | None = None
    required: list[str] | None = None


class CustomTool(Params):
    """A tool the caller runs itself (Corral's client tools)."""

    type: Literal["custom"]
    name: Annotated[str, Field(pattern=r"^[a-zA-Z0-9_-]{1,64}$")]
    description: Annotated[str, Field(max_length=10_000)] = ""
    input_schema: CustomToolSchema = Field(default_factory=CustomToolSchema)


Tool = Annotated[AgentToolset | McpToolset | CustomTool, Field(discriminator="type")]


class McpServer(Params):
    """An MCP server the agent reaches over HTTP."""

    type: Literal["url"]
    name: Annotated[str, Field(min_length=1, max_length=64)]
    url: Annotated[str, Field(pattern=r"^https?://", max_length=2_000)]


class ModelConfig(Params):
    """A model and how to run it; `id` is any model id of Corral's catalog."""

    id: Annotated[str, Field(min_length=1, max_length=200)]
    effort: Any = None
    speed: Literal["standard", "fast"] | None = None
    inference_geo: str | None = None


class AgentSkillRef(Params):
    """A skill of the agent."""

    type: Literal["anthropic", "custom"]
    skill_id: Annotated[str, Field(min_length=1, max_length=200)]
    version: str | None = None


class ExecutionIdentity(Params):
    """Whose identity runs use; Corral runs act as the key that started them."""

    type: Literal["service_account", "aws_role"]
    role_arn: str | None = None


Name = Annotated[str, Field(min_length=1, max_length=256)]
System = Annotated[str, Field(max_length=100_000)]


class AgentCreate(Params):
    """Body of `POST /v1/agents`."""

    name: Name
    model: Annotated[str, Field(min_length=1, max_length=200)] | ModelConfig
    description: Annotated[str, Field(max_length=2_048)] | None = None
    system: System | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] = Field(default_factory=list)
    mcp_servers: Annotated[list[McpServer], Field(max_length=20)] = Field(default_factory=list)
    skills: Annotated[list[AgentSkillRef], Field(max_length=20)] = Field(default_factory=list)
    metadata: Metadata = Field(default_factory=dict)
    multiagent: Multiagent | None = None
    execution_identity: ExecutionIdentity | None = None


class AgentUpdate(Params):
    """Body of `POST /v1/agents/{id}`: what is given replaces; `version` guards the write."""

    name: Name | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | ModelConfig | None = None
    description: Annotated[str, Field(max_length=2_048)] | None = None
    system: System | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    mcp_servers: Annotated[list[McpServer], Field(max_length=20)] | None = None
    skills: Annotated[list[AgentSkillRef], Field(max_length=20)] | None = None
    metadata: MetadataPatch | None = None
    multiagent: Multiagent | None = None
    execution_identity: ExecutionIdentity | None = None
    version: Annotated[int, Field(ge=1)] | None = None


class ModelView(Wire):
    """The agent's model as answers show it."""

    id: str
    speed: Literal["standard", "fast"] = "standard"


class ServiceAccount(Wire):
    """Runs act as the API key that started them."""

    type: Literal["service_account"] = "service_account"


class AgentObject(Wire):
    """An agent at one of its versions."""

    type: Literal["agent"] = "agent"
    id: str
    version: int
    name: str
    description: str | None
    model: ModelView
    system: str | None
    tools: list[dict[str, Any]]
    mcp_servers: list[dict[str, Any]]
    skills: list[dict[str, Any]]
    metadata: dict[str, str]
    execution_identity: ServiceAccount = Field(default_factory=ServiceAccount)
    multiagent: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class ManagedAgentPage(CursorPage[AgentObject]):
    """A page of agents."""
