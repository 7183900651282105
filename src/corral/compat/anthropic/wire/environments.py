"""Environments: where a session's tools run."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from corral.compat.anthropic.wire.common import CursorPage, Metadata, Params, Wire

PackageList = Annotated[
    list[Annotated[str, Field(min_length=1, max_length=200)]], Field(max_length=100)
]


class UnrestrictedNetwork(Params):
    """Any public host."""

    type: Literal["unrestricted"]


class LimitedNetwork(Params):
    """Only the listed hosts (and, if allowed, package registries and the agent's MCP servers)."""

    type: Literal["limited"]
    allowed_hosts: Annotated[list[str], Field(max_length=200)] | None = None
    allow_mcp_servers: bool | None = None
    allow_package_managers: bool | None = None


Networking = Annotated[UnrestrictedNetwork | LimitedNetwork, Field(discriminator="type")]


class Packages(Params):
    """Packages installed before the first turn."""

    type: Literal["packages"] | None = None
    apt: PackageList | None = None
    cargo: PackageList | None = None
    gem: PackageList | None = None
    go: PackageList | None = None
    npm: PackageList | None = None
    pip: PackageList | None = None


class CloudConfig(Params):
    """A sandbox the server runs (Corral's environments)."""

    type: Literal["cloud"]
    networking: Networking | None = None
    packages: Packages | None = None


class SelfHostedConfig(Params):
    """A sandbox the caller runs: refused, see `docs/anthropic.md`."""

    type: Literal["self_hosted"]


Config = Annotated[CloudConfig | SelfHostedConfig, Field(discriminator="type")]
Name = Annotated[str, Field(min_length=1, max_length=256)]
Description = Annotated[str, Field(max_length=2_048)]


class EnvironmentCreate(Params):
    """Body of `POST /v1/environments`."""

    name: Name
    config: Config | None = None
    description: Description | None = None
    metadata: Metadata = Field(default_factory=dict)
    scope: Literal["organization", "account"] | None = None


class EnvironmentUpdate(Params):
    """Body of `POST /v1/environments/{id}`: what is given replaces."""

    name: Name | None = None
    config: Config | None = None
    description: Description | None = None
    metadata: dict[str, str | None] | None = None


class EnvironmentObject(Wire):
    """An environment as answers show it."""

    type: Literal["environment"] = "environment"
    id: str
    name: str
    description: str | None
    config: dict[str, object]
    metadata: dict[str, str]
    scope: Literal["organization"] = "organization"
    created_at: str
    updated_at: str
    archived_at: str | None = None


class EnvironmentDeleted(Wire):
    """The answer to a delete."""

    type: Literal["environment_deleted"] = "environment_deleted"
    id: str


class ManagedEnvironmentPage(CursorPage[EnvironmentObject]):
    """A page of environments."""
