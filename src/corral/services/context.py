"""Who is calling a use case: the principal an API key stands for."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["Principal"]


@dataclass(frozen=True, kw_only=True)
class Principal:
    """Who is calling: an API key of a workspace."""

    workspace_id: str
    workspace_name: str
    key_id: str
    key_name: str
    scopes: list[str]
    agents: list[str] | None = None
    """The agents (names or ids) the key may run; None for any."""
    expires_at: datetime | None = None
    limits: Mapping[str, float] = field(default_factory=dict)
    """The caller's own limits, in place of the server's (the names of `WorkspaceLimits`): the
    operator's for its workspace (rates per minute, spend caps in dollars), and the key's own
    request rate."""
