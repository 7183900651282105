"""Workspaces and the caller's identity."""

from __future__ import annotations

from corral.types.common import WireModel


class WorkspaceRef(WireModel):
    """The workspace a key belongs to."""

    id: str
    name: str


class KeyRef(WireModel):
    """The API key making the request."""

    id: str
    name: str
    scopes: list[str]


class EffectiveLimits(WireModel):
    """Defaults and ceilings that apply to this workspace's runs."""

    max_turns: int
    max_tool_calls_per_turn: int
    run_timeout_s: float
    client_tool_timeout_s: float
    metadata_max_entries: int
    max_body_bytes: int


class WhoAmI(WireModel):
    """Body of `GET /v1/whoami`."""

    workspace: WorkspaceRef
    key: KeyRef
    limits: EffectiveLimits
