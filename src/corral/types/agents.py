"""Agents: named, versioned specs of a model, its instructions, tools and limits."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, Field

from corral.types.common import Metadata, ParamsModel, WireModel
from corral.types.tools import ToolRef


def _not_an_id(name: str) -> str:
    if name.startswith("agt_"):
        raise ValueError("agent names must not start with 'agt_' (that prefix is for ids)")
    return name


AgentName = Annotated[
    str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"), AfterValidator(_not_an_id)
]
ModelId = Annotated[str, Field(min_length=1, max_length=200)]
Instructions = Annotated[str, Field(max_length=200_000)]
Description = Annotated[str, Field(max_length=2_000)]


class Limits(ParamsModel):
    """Budgets that end a run with a clear error code when exceeded; unset means the default."""

    max_turns: Annotated[int, Field(ge=1, le=1_000)] | None = None
    """Model calls the run may make."""
    max_tool_calls_per_turn: Annotated[int, Field(ge=1, le=1_000)] | None = None
    """Tool calls a single model turn may request."""
    max_output_tokens: Annotated[int, Field(ge=1, le=100_000_000)] | None = None
    """Generated tokens the whole run may use."""
    timeout_s: Annotated[float, Field(gt=0, le=7 * 86_400)] | None = None
    """Wall-clock seconds from the run's start to its end."""


class AgentSpec(ParamsModel):
    """What an agent is, without its name: also accepted inline as a run's `agent_spec`."""

    description: Description = ""
    """What the agent is for."""
    model: ModelId
    """Model id (see `GET /v1/models`)."""
    instructions: Instructions = ""
    """System prompt."""
    tools: Annotated[list[ToolRef], Field(max_length=128)] = Field(default_factory=list)
    """Tools the agent may call."""
    limits: Limits = Field(default_factory=Limits)
    """Budgets of every run of the agent."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags, copied onto every run of the agent (run metadata wins)."""


class AgentCreateParams(AgentSpec):
    """Body of `POST /v1/agents`."""

    name: AgentName
    """Unique name in the workspace; runs may refer to the agent by it."""


class AgentUpdateParams(ParamsModel):
    """Body of `PATCH /v1/agents/{id}`.

    The fields given replace the current ones and make a new version.
    """

    description: Description | None = None
    model: ModelId | None = None
    instructions: Instructions | None = None
    tools: Annotated[list[ToolRef], Field(max_length=128)] | None = None
    limits: Limits | None = None
    metadata: Metadata | None = None


class Agent(WireModel):
    """An agent at its latest version."""

    id: str
    name: str
    version: int
    """Latest version; every change makes a new one, and runs record the version they used."""
    description: str
    model: str
    instructions: str
    tools: list[ToolRef]
    limits: Limits
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime


class AgentVersion(WireModel):
    """One immutable version of an agent."""

    agent_id: str
    version: int
    description: str
    model: str
    instructions: str
    tools: list[ToolRef]
    limits: Limits
    metadata: dict[str, str]
    created_at: datetime
