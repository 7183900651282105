"""Sessions: a conversation with one agent, run one message at a time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from corral.types.agents import AgentSpec
from corral.types.common import Metadata, ParamsModel, ProviderKeys, VersionNumber, WireModel
from corral.types.files import RunFiles
from corral.types.messages import Message
from corral.types.permissions import Permissions
from corral.types.runs import IdempotencyKey, RunInput
from corral.types.tools import ToolRef


class SessionStatus(StrEnum):
    """Whether the session is busy."""

    IDLE = "idle"  #: no run of the session is queued or active
    RUNNING = "running"  #: a run of the session is queued, running or waiting
    ENDED = "ended"  #: deleted or archived: takes no more messages


SessionSpendCap = Annotated[float, Field(gt=0, le=1_000_000)]
SessionTitle = Annotated[str, Field(max_length=512)]


class SessionCreateParams(ParamsModel):
    """Body of `POST /v1/sessions`: give `agent` or `agent_spec`."""

    agent: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    """Id or name of a stored agent."""
    agent_version: VersionNumber | None = None
    """Version of `agent` (default: its latest, fixed for the session's life)."""
    agent_spec: AgentSpec | None = None
    """An inline agent."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags inherited by every run of the session."""
    api_keys: ProviderKeys | None = None
    """Provider keys for the session's runs, by provider name; kept sealed until it ends."""
    max_spend_usd: SessionSpendCap | None = None
    """US dollars all the session's runs together may spend (see `Session.max_spend_usd`)."""
    permissions: Permissions | None = None
    """Permissions of every run of the session, layered over its agent's."""
    environment_id: Annotated[str, Field(min_length=1, max_length=40)] | None = None
    """An environment whose config replaces the agent's environment for every run of the
    session (copied when the session opens: later changes to the environment do not reach it)."""
    title: SessionTitle | None = None
    files: RunFiles = Field(default_factory=list)
    """Files placed in the workspace before each run of the session (as a run's `files`)."""
    """A label for people."""

    @model_validator(mode="after")
    def _one_agent_source(self) -> SessionCreateParams:
        if (self.agent is None) == (self.agent_spec is None):
            raise PydanticCustomError(
                "agent_source", "give exactly one of 'agent' or 'agent_spec'", {"field": "agent"}
            )
        if self.agent_version is not None and self.agent is None:
            raise PydanticCustomError(
                "agent_source", "'agent_version' needs 'agent'", {"field": "agent_version"}
            )
        return self


class SessionMessageParams(ParamsModel):
    """Body of `POST /v1/sessions/{id}/messages`."""

    input: RunInput
    """The user's message, or a list of messages."""
    tools: Annotated[list[ToolRef], Field(max_length=128)] = Field(default_factory=list)
    """Extra tools for this message's run."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags of this message's run, merged over the session's (these win)."""
    idempotency_key: IdempotencyKey | None = None
    """Same key and body return the same run."""
    api_keys: ProviderKeys | None = None
    """Provider keys for this message's run (default: the session's)."""
    permissions: Permissions | None = None
    """Permissions of this message's run, layered over the session's."""

    @model_validator(mode="after")
    def _non_empty(self) -> SessionMessageParams:
        if isinstance(self.input, str) and not self.input:
            raise PydanticCustomError("empty", "input must not be empty", {"field": "input"})
        return self


class SessionUpdateParams(ParamsModel):
    """Body of `PATCH /v1/sessions/{id}`: the fields given replace the session's."""

    max_spend_usd: SessionSpendCap | None = None
    """The session's new spend cap; null removes it. Raising it past what the session spent lets
    a session stopped at its cap take messages again."""
    title: SessionTitle | None = None
    """The session's new title; null removes it."""
    metadata: Metadata | None = None
    """Tags replacing the session's (no merge), inherited by its next runs."""


class SessionStopReason(WireModel):
    """Why a session takes no more messages for now, and what lets it go on."""

    type: Literal["budget_exceeded"]
    """`budget_exceeded`: its runs have spent `max_spend_usd`; raising the cap lets it go on."""
    spent_usd: float
    """What the session's runs have spent."""
    max_spend_usd: float
    """The cap they reached."""


class Session(WireModel):
    """A session and its conversation so far."""

    id: str
    status: SessionStatus
    agent: str | None
    agent_version: int | None
    model: str
    metadata: dict[str, str]
    messages: list[Message]
    """The conversation: turns of completed runs, in order."""
    created_at: datetime
    updated_at: datetime
    max_spend_usd: float | None = None
    """What all the session's runs together may spend, in US dollars: past 80 % a run logs
    `budget.warning` (`scope: session`); at the cap the running run stops and further messages
    are refused (402 `spend_limit_reached`) until the cap is raised."""
    stop_reason: SessionStopReason | None = None
    """Set while the session takes no messages for a reason its owner can change."""
    title: str | None = None
    """A label for people."""
    environment_id: str | None = None
    """The stored environment the session was opened with, whose config its runs use."""
    archived_at: datetime | None = None
    """Set once archived (`POST /v1/sessions/{id}/archive`): an archived session has ended."""


class SessionSummary(WireModel):
    """A session in a list (without its messages)."""

    id: str
    status: SessionStatus
    agent: str | None
    agent_version: int | None
    model: str
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    max_spend_usd: float | None = None
    title: str | None = None
    environment_id: str | None = None
    archived_at: datetime | None = None
