"""Sessions: create, update and the session object answers carry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from corral.compat.anthropic.wire.agents import AgentSkillRef, McpServer, ModelConfig, Tool
from corral.compat.anthropic.wire.common import (
    BudgetLimit,
    CursorPage,
    Metadata,
    MetadataPatch,
    Params,
    Wire,
)
from corral.compat.anthropic.wire.events import UnmappedEvent, UserMessage

AgentId = Annotated[str, Field(min_length=1, max_length=100)]


class AgentRef(Params):
    """A stored agent, at its latest version or at `version`."""

    type: Literal["agent"]
    id: AgentId
    version: Annotated[int, Field(ge=1)] | None = None


class AgentWithOverrides(Params):
    """A stored agent with parts replaced for this session only."""

    type: Literal["agent_with_overrides"]
    id: AgentId
    version: Annotated[int, Field(ge=1)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | ModelConfig | None = None
    system: Annotated[str, Field(max_length=100_000)] | None = None
    tools: Annotated[list[Tool], Field(max_length=128)] | None = None
    mcp_servers: Annotated[list[McpServer], Field(max_length=20)] | None = None
    skills: Annotated[list[AgentSkillRef], Field(max_length=20)] | None = None


InitialEvent = Annotated[UserMessage | UnmappedEvent, Field(discriminator="type")]


class FileResource(Params):
    """An uploaded file (`/v1/files`), placed in the workspace before each turn."""

    type: Literal["file"]
    file_id: Annotated[str, Field(min_length=1, max_length=40)]
    mount_path: Annotated[str, Field(min_length=1, max_length=1_000)] | None = None


class OtherResource(Params):
    """Repositories and memory stores: refused, naming the resource."""

    model_config = ConfigDict(extra="allow")
    type: Literal["github_repository", "memory_store"]


Resource = Annotated[FileResource | OtherResource, Field(discriminator="type")]


class SessionCreate(Params):
    """Body of `POST /v1/sessions`."""

    agent: AgentId | Annotated[AgentRef | AgentWithOverrides, Field(discriminator="type")]
    environment_id: Annotated[str, Field(min_length=1, max_length=40)]
    title: Annotated[str, Field(max_length=512)] | None = None
    metadata: Metadata = Field(default_factory=dict)
    budget: BudgetLimit | None = None
    initial_events: Annotated[list[InitialEvent], Field(max_length=50)] = Field(
        default_factory=list
    )
    vault_ids: Annotated[list[str], Field(max_length=20)] = Field(default_factory=list)
    resources: Annotated[list[Resource], Field(max_length=100)] = Field(default_factory=list)


class SessionUpdate(Params):
    """Body of `POST /v1/sessions/{id}`."""

    title: Annotated[str, Field(max_length=512)] | None = None
    metadata: MetadataPatch | None = None
    budget: BudgetLimit | None = None
    vault_ids: Annotated[list[str], Field(max_length=20)] | None = None
    agent: dict[str, Any] | None = None


class SessionUsage(Wire):
    """What the session's turns used, summed."""

    input_tokens: int
    output_tokens: int
    cache_read_input_tokens: int = 0
    list_cost: dict[str, str] | None = None


class SessionStats(Wire):
    """Timings of the session."""

    duration_seconds: float | None = None


class SessionObject(Wire):
    """A session as answers show it."""

    type: Literal["session"] = "session"
    id: str
    status: Literal["rescheduling", "running", "idle", "terminated"]
    agent: dict[str, Any]
    environment_id: str
    title: str | None
    metadata: dict[str, str]
    vault_ids: list[str] = Field(default_factory=list)
    resources: list[dict[str, Any]] = Field(default_factory=list)
    outcome_evaluations: list[dict[str, Any]] = Field(default_factory=list)
    stats: SessionStats
    usage: SessionUsage
    budget: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class SessionDeleted(Wire):
    """The answer to a delete."""

    type: Literal["session_deleted"] = "session_deleted"
    id: str


class ManagedSessionPage(CursorPage[SessionObject]):
    """A page of sessions."""
