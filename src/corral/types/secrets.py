"""The secrets vault as the API shows it: names, descriptions and versions, never a value."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import Field, SecretStr, StringConstraints

from corral.types.common import ParamsModel, WireModel

SecretName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$")]
"""A letter or `_` first, then letters, digits, `_`, `.` or `-`; at most 128 characters."""
MAX_SECRET_BYTES = 65536


class SecretVersion(WireModel):
    """One version of a secret (its value is never shown)."""

    version: int
    created_at: datetime
    created_by: str | None = None
    """The id of the key that wrote it; null for the server or its CLI."""


class Secret(WireModel):
    """A secret of the workspace; its value can be written, never read back."""

    id: str
    name: str
    description: str | None = None
    version: int
    """The current version, the one references resolve to."""
    created_at: datetime
    updated_at: datetime
    versions: list[SecretVersion] | None = None
    """Every version, newest first (in `GET /v1/secrets/{name}` only)."""


class SecretCreateParams(ParamsModel):
    """Body of `POST /v1/secrets`."""

    name: SecretName
    value: SecretStr = Field(min_length=1)
    """Written once per version; no answer ever contains it."""
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None


class SecretUpdateParams(ParamsModel):
    """Body of `PUT /v1/secrets/{name}`: a new version."""

    value: SecretStr = Field(min_length=1)
    description: Annotated[str, StringConstraints(max_length=1000)] | None = None
    """Replaces the description when given."""
