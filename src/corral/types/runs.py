"""Runs: one execution of an agent on an input, from `queued` to a terminal status."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from corral.types.agents import AgentSpec, Environment
from corral.types.common import (
    Metadata,
    ParamsModel,
    ProviderKeys,
    Usage,
    VersionNumber,
    WireModel,
)
from corral.types.files import RunFiles, RunSkills
from corral.types.messages import InputMessage
from corral.types.permissions import PendingApproval, Permissions
from corral.types.tools import ToolCall, ToolRef

RunInput = str | Annotated[list[InputMessage], Field(min_length=1, max_length=1_000)]
IdempotencyKey = Annotated[str, Field(min_length=1, max_length=255)]


class RunStatus(StrEnum):
    """Where a run is in its life."""

    QUEUED = "queued"  #: accepted, waiting for a worker
    RUNNING = "running"  #: a worker is executing it
    WAITING = "waiting"  #: paused for a client tool result
    COMPLETED = "completed"  #: ended with an answer (terminal)
    FAILED = "failed"  #: ended with an error (terminal)
    CANCELLED = "cancelled"  #: cancelled by a caller (terminal)
    TIMED_OUT = "timed_out"  #: exceeded its timeout (terminal)


TERMINAL_STATUSES = frozenset(
    {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
)
ACTIVE_STATUSES = frozenset({RunStatus.QUEUED, RunStatus.RUNNING, RunStatus.WAITING})


class RunCreateParams(ParamsModel):
    """Body of `POST /v1/runs`: give `agent`, `agent_spec` or `session`."""

    agent: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """Id or name of a stored agent."""
    agent_version: VersionNumber | None = None
    """Version of `agent` to run (default: its latest)."""
    agent_spec: AgentSpec | None = None
    """An inline agent, instead of a stored one."""
    session: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """Run as the next message of this session (the session's agent is used)."""
    input: RunInput
    """The user's message, or a list of messages."""
    tools: Annotated[list[ToolRef], Field(max_length=128)] = Field(default_factory=list)
    """Extra tools for this run only, e.g. client tools."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags of this run (they win over the agent's)."""
    idempotency_key: IdempotencyKey | None = None
    """Same key and body return the same run; same key, other body is a conflict."""
    environment: Environment | None = None
    """Sandbox settings of this run: the ones given replace the agent's."""
    api_keys: ProviderKeys | None = None
    """Provider keys for this run, by provider name; never stored in plain text or returned."""
    files: RunFiles = Field(default_factory=list)
    """Files placed in the workspace before the first turn: uploads (`file_id`) or inline."""
    skills: RunSkills = Field(default_factory=list)
    """Skills for this run: uploaded archives of folders holding a `SKILL.md`."""
    permissions: Permissions | None = None
    """Permissions of this run's tool calls, layered over its agent's (and session's)."""

    @model_validator(mode="after")
    def _one_agent_source(self) -> RunCreateParams:
        given = [n for n in ("agent", "agent_spec", "session") if getattr(self, n) is not None]
        if len(given) != 1:
            raise PydanticCustomError(
                "agent_source",
                "give exactly one of 'agent', 'agent_spec' or 'session'",
                {"field": given[1] if len(given) > 1 else "agent"},
            )
        if self.agent_version is not None and self.agent is None:
            raise PydanticCustomError(
                "agent_source", "'agent_version' needs 'agent'", {"field": "agent_version"}
            )
        if isinstance(self.input, str) and not self.input:
            raise PydanticCustomError("empty", "input must not be empty", {"field": "input"})
        return self


class RunError(WireModel):
    """Why a run failed or timed out."""

    code: str
    """Machine-readable reason (see the error codes)."""
    message: str
    """Human explanation."""


class Run(WireModel):
    """A run as it stands."""

    id: str
    status: RunStatus
    agent: str | None
    """Id of the stored agent, or null for an inline `agent_spec`."""
    agent_version: int | None
    session: str | None
    model: str
    input: Any
    """The input as given: a string or a list of messages."""
    output: str | None
    """The final answer, once completed."""
    error: RunError | None
    usage: Usage
    metadata: dict[str, str]
    pending_tool_calls: list[ToolCall] = Field(default_factory=list)
    """Client tool calls awaiting a result while the run is `waiting`."""
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    """Tool calls awaiting a person's decision while the run is `waiting` (see approvals)."""
    parent_run: str | None = None
    """The run whose tool call started this one, for a subagent."""
    root_run: str | None = None
    """The first run of the subagent's tree (null for a run no run started)."""
    depth: int = 0
    """How far below its root: 0 for a run no run started."""
    subagents: int = 0
    """How many subagents the run has started."""
    total_usage: Usage | None = None
    """What the run and every subagent below it used, once it has started any."""
    created_at: datetime
    started_at: datetime | None
    ended_at: datetime | None
