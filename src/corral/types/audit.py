"""The audit log as the API lists it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from corral.types.common import WireModel


class AuditEvent(WireModel):
    """One recorded change to the workspace's keys, secrets, limits or the workspace itself."""

    id: str
    action: str
    """What was done: `key.created`, `key.revoked`, `key.rotated`…"""
    target_id: str | None = None
    """The id of what was changed."""
    actor: str | None = None
    """The name of the key that made the change; null for the server or its CLI."""
    actor_key_id: str | None = None
    address: str | None = None
    """The network address the request came from."""
    details: dict[str, Any]
    """What changed (never a secret)."""
    created_at: datetime
