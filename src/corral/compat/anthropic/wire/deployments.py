"""Deployments and deployment runs: the bodies of create and update, and the answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from corral.compat.anthropic.wire.common import (
    BudgetLimit,
    CursorPage,
    Metadata,
    MetadataPatch,
    Params,
    Wire,
)
from corral.compat.anthropic.wire.sessions import AgentId, InitialEvent

Name = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[str, Field(max_length=1_000)]
EnvironmentId = Annotated[str, Field(min_length=1, max_length=40)]
InitialEvents = Annotated[list[InitialEvent], Field(min_length=1, max_length=50)]
VaultIds = Annotated[list[str], Field(max_length=50)]
Resources = Annotated[list[dict[str, Any]], Field(max_length=500)]


class DeploymentAgentParams(Params):
    """A stored agent, at `version` (or pinned at its latest one)."""

    type: Literal["agent"]
    id: AgentId
    version: Annotated[int, Field(ge=1)] | None = None


class CronScheduleParams(Params):
    """A cron expression read in an IANA time zone."""

    type: Literal["cron"]
    expression: Annotated[str, Field(min_length=1, max_length=200)]
    """Five fields; Corral also takes six, with seconds first."""
    timezone: Annotated[str, Field(min_length=1, max_length=64)]


class DeploymentCreate(Params):
    """Body of `POST /v1/deployments`."""

    agent: AgentId | DeploymentAgentParams
    environment_id: EnvironmentId
    initial_events: InitialEvents
    name: Name
    budget: BudgetLimit | None = None
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    resources: Resources = Field(default_factory=list)
    schedule: CronScheduleParams | None = None
    vault_ids: VaultIds = Field(default_factory=list)


class DeploymentUpdate(Params):
    """Body of `POST /v1/deployments/{id}`: what is given replaces, null clears."""

    agent: AgentId | DeploymentAgentParams | None = None
    budget: BudgetLimit | None = None
    description: Description | None = None
    environment_id: EnvironmentId | None = None
    initial_events: InitialEvents | None = None
    metadata: MetadataPatch | None = None
    name: Name | None = None
    resources: Resources | None = None
    schedule: CronScheduleParams | None = None
    vault_ids: VaultIds | None = None


class DeploymentAgent(Wire):
    """The agent a deployment runs, at a concrete version."""

    type: Literal["agent"] = "agent"
    id: str
    version: int


class CronScheduleView(Wire):
    """A deployment's schedule, with its next times and its last run."""

    type: Literal["cron"] = "cron"
    expression: str
    timezone: str
    last_run_at: datetime | None = None
    upcoming_runs_at: list[datetime] = Field(default_factory=list)


class DeploymentObject(Wire):
    """A deployment as answers show it."""

    type: Literal["deployment"] = "deployment"
    id: str
    name: str
    description: str | None
    agent: DeploymentAgent
    environment_id: str
    initial_events: list[dict[str, Any]]
    metadata: dict[str, str]
    schedule: CronScheduleView | None
    status: Literal["active", "paused"]
    paused_reason: dict[str, Any] | None
    """`{"type": "manual"}`, or `{"type": "error", "error": {"type"}}` for a failed fire."""
    resources: list[dict[str, Any]] = Field(default_factory=list)
    vault_ids: list[str] = Field(default_factory=list)
    budget: dict[str, Any] | None = None
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class ScheduleTriggerContext(Wire):
    """The run was fired by the deployment's schedule."""

    type: Literal["schedule"] = "schedule"
    scheduled_at: datetime


class ManualTriggerContext(Wire):
    """The run was asked for (`POST /v1/deployments/{id}/run`)."""

    type: Literal["manual"] = "manual"


class DeploymentRunError(Wire):
    """Why a run opened no session."""

    type: str
    """`agent_archived_error`, `environment_archived_error`, `session_creation_rejected_error`,
    `session_rate_limited_error` or `unknown_error`."""
    message: str


class DeploymentRunObject(Wire):
    """A deployment run: one fire of the deployment, and the session it opened."""

    type: Literal["deployment_run"] = "deployment_run"
    id: str
    deployment_id: str
    agent: DeploymentAgent
    trigger_context: ScheduleTriggerContext | ManualTriggerContext
    session_id: str | None
    error: DeploymentRunError | None
    created_at: datetime


class DeploymentPage(CursorPage[DeploymentObject]):
    """A page of deployments."""


class DeploymentRunPage(CursorPage[DeploymentRunObject]):
    """A page of deployment runs."""
