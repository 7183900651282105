"""Multi-agent rosters: the agents a coordinator may hand work to."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from corral.compat.anthropic.wire.common import Params

AgentId = Annotated[str, Field(min_length=1, max_length=100)]


class RosterAgent(Params):
    """A stored agent of the roster, at `version` or its latest."""

    type: Literal["agent"]
    id: AgentId
    version: Annotated[int, Field(ge=1)] | None = None


class RosterSelf(Params):
    """The agent itself, called recursively."""

    type: Literal["self"]


class RosterAdvisor(Params):
    """A model consulted for advice."""

    type: Literal["advisor"]
    model: str


RosterEntry = (
    AgentId | Annotated[RosterAgent | RosterSelf | RosterAdvisor, Field(discriminator="type")]
)


class Coordinator(Params):
    """The agent coordinates the roster's agents, each a thread of the session."""

    type: Literal["coordinator"]
    agents: Annotated[list[RosterEntry], Field(min_length=1, max_length=20)]


class Toggle(Params):
    """`enabled` or `disabled`, with what an enabled part brings."""

    type: Literal["enabled", "disabled"]
    model: str | None = None
    predefined_agents: Annotated[list[RosterEntry], Field(max_length=20)] = Field(
        default_factory=list
    )
    inline_agents: Toggle | None = None


class Multiagent20261001(Params):
    """Subagents (stored ones, and agents the model writes itself), advisor and workflows."""

    type: Literal["multiagent_20261001"]
    subagents: Toggle | None = None
    advisor: Toggle | None = None
    workflows: Toggle | None = None


Multiagent = Annotated[Coordinator | Multiagent20261001, Field(discriminator="type")]
