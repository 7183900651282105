"""API keys as the API shows them: never their secret, except once when it is made."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, StringConstraints

from corral.types.common import ParamsModel, WireModel

KeyName = Annotated[str, StringConstraints(min_length=1, max_length=100, strip_whitespace=True)]
AgentRef = Annotated[str, StringConstraints(min_length=1, max_length=100)]
MAX_ROTATION_GRACE_S = 7 * 24 * 3600
"""The longest a rotated-out secret may keep working."""


class ApiKey(WireModel):
    """An API key of the workspace."""

    id: str
    name: str
    prefix: str
    """The first characters of the secret, to tell keys apart."""
    scopes: list[str]
    agents: list[str] | None = None
    """The agents (names or ids) this key may run; null for any."""
    created_at: datetime
    created_by: str | None = None
    """The id of the key that created it; null for keys made by the server or the CLI."""
    expires_at: datetime | None = None
    last_used_at: datetime | None = None
    """Accurate to about a minute."""
    revoked_at: datetime | None = None
    rate_limit_per_minute: int | None = None
    """The key's own request rate; null: the workspace's per-key rate."""


class ApiKeyWithSecret(ApiKey):
    """A key just created or rotated: `secret` is shown this once and never again."""

    secret: str


class KeyCreateParams(ParamsModel):
    """Body of `POST /v1/keys`."""

    name: KeyName
    scopes: list[str] = Field(min_length=1, max_length=32)
    """Each one of the server's scopes; a key can only grant scopes its creator has."""
    expires_at: datetime | None = None
    """When the key stops working; must be in the future and carry a time zone."""
    agents: list[AgentRef] | None = Field(default=None, min_length=1, max_length=100)
    """Restrict the key to running these agents (names or ids)."""
    rate_limit_per_minute: int | None = Field(default=None, ge=1, le=10_000_000)
    """The key's own request rate, in place of the workspace's per-key rate (the workspace's
    rate for all its keys together still applies)."""


class KeyRotateParams(ParamsModel):
    """Body of `POST /v1/keys/{id}/rotate`."""

    grace_s: float = Field(default=0, ge=0, le=MAX_ROTATION_GRACE_S)
    """How long the old secret keeps working, so its users can switch (0: it stops at once)."""
