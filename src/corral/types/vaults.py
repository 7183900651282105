"""Vaults of credentials: what a session may authenticate with, named once and attached by id.

A credential's value is a workspace secret (`/v1/secrets`, sealed at rest); these objects only
name it, so no answer built from them can show a value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, SecretStr, StringConstraints

from corral.types.common import Metadata, ParamsModel, WireModel

CredentialKind = Literal["static_bearer", "mcp_oauth", "environment_variable"]
"""`static_bearer` and `mcp_oauth`: a bearer token for one remote MCP server;
`environment_variable`: a variable of the sandbox the session's commands run in."""

DisplayName = Annotated[str, StringConstraints(min_length=1, max_length=255)]
ServerUrl = Annotated[str, StringConstraints(pattern=r"^https?://[^\s]+$", max_length=2048)]
VariableName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
CredentialHost = Annotated[
    str, StringConstraints(pattern=r"^(\*\.)?[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$")
]
"""A bare host name, an IPv4 address or `*.example.com` (any subdomain, not the domain itself)."""
CredentialHosts = Annotated[list[CredentialHost], Field(min_length=1, max_length=16)]


class Vault(WireModel):
    """A named set of credentials a session may be given."""

    id: str
    display_name: str
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None
    """Set once archived: its credentials are archived with it and no session may attach it."""


class VaultCreateParams(ParamsModel):
    """A new vault."""

    display_name: DisplayName
    metadata: Metadata = Field(default_factory=dict)


class VaultUpdateParams(ParamsModel):
    """What changes in a vault: the fields given replace its own."""

    display_name: DisplayName | None = None
    metadata: Metadata | None = None
    """Replaces every entry."""


class VaultCredential(WireModel):
    """One credential of a vault; its value lives in the secret `secret_name`."""

    id: str
    vault_id: str
    kind: CredentialKind
    display_name: str | None
    metadata: dict[str, str]
    mcp_server_url: str | None
    """The remote MCP server whose requests carry the token (bearer kinds)."""
    variable: str | None
    """The environment variable that holds the value (`environment_variable`)."""
    allowed_hosts: list[str] | None
    """The only hosts the session's sandbox may reach while it holds the value; None: any the
    environment allows (`environment_variable`)."""
    expires_at: datetime | None
    """When an `mcp_oauth` access token stops being valid, if known."""
    secret_name: str
    """The workspace secret that holds the value; deleted when the credential is archived."""
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None


class CredentialCreateParams(ParamsModel):
    """A new credential; which of the optional fields it needs depends on `kind`."""

    kind: CredentialKind
    value: SecretStr = Field(min_length=1)
    """The token or variable value; written to the secrets vault, never shown."""
    display_name: DisplayName | None = None
    metadata: Metadata = Field(default_factory=dict)
    mcp_server_url: ServerUrl | None = None
    variable: VariableName | None = None
    allowed_hosts: CredentialHosts | None = None
    expires_at: datetime | None = None


class CredentialUpdateParams(ParamsModel):
    """What changes in a credential: only the fields given (null clears a nullable one)."""

    value: SecretStr | None = Field(default=None, min_length=1)
    """A new version of the credential's secret."""
    display_name: DisplayName | None = None
    metadata: Metadata | None = None
    """Replaces every entry."""
    allowed_hosts: CredentialHosts | None = None
    expires_at: datetime | None = None
