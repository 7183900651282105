"""Environments: named sandbox configurations, stored once and used by any number of sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field

from corral.types.agents import Environment
from corral.types.common import Metadata, ParamsModel, WireModel

EnvironmentName = Annotated[str, Field(min_length=1, max_length=256)]
EnvironmentDescription = Annotated[str, Field(max_length=2048)]


class EnvironmentCreateParams(ParamsModel):
    """Body of `POST /v1/environments`."""

    name: EnvironmentName
    """A label for people; several environments may share it (the id names one)."""
    description: EnvironmentDescription = ""
    """What the environment is for."""
    metadata: Metadata = Field(default_factory=dict)
    """Tags of the environment itself (not copied onto runs)."""
    config: Environment = Field(default_factory=Environment)
    """The sandbox: networking, variables, runtime and setup, as an agent's `environment`."""


class EnvironmentUpdateParams(ParamsModel):
    """Body of `PATCH /v1/environments/{id}`: the fields given replace the environment's.

    Sessions already opened with the environment keep the config they were opened with.
    """

    name: EnvironmentName | None = None
    description: EnvironmentDescription | None = None
    metadata: Metadata | None = None
    """Replaces every tag (no merge)."""
    config: Environment | None = None


class EnvironmentInfo(WireModel):
    """A stored environment."""

    id: str
    name: str
    description: str
    metadata: dict[str, str]
    config: Environment
    """What the runs of a session opened with the environment run in."""
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    """Set once archived: it can then be read and deleted, not changed or used by new sessions."""
