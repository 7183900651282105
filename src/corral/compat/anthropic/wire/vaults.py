"""Vaults and their credentials: bodies and answers. Secret fields are write-only.

Every field that carries a secret is a `SecretStr`, so it never shows in a log line or a repr,
and no answer has a place for one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr

from corral.compat.anthropic.wire.common import CursorPage, Metadata, MetadataPatch, Params, Wire

DisplayName = Annotated[str, Field(min_length=1, max_length=255)]
ServerUrl = Annotated[str, Field(pattern=r"^https?://[^\s]+$", max_length=2048)]
Secret = Annotated[SecretStr, Field(min_length=1)]
VariableName = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")]
Host = Annotated[str, Field(pattern=r"^(\*\.)?[A-Za-z0-9-]{1,63}(\.[A-Za-z0-9-]{1,63})*$")]


class VaultCreate(Params):
    """Body of `POST /v1/vaults`."""

    display_name: DisplayName
    metadata: Metadata = Field(default_factory=dict)


class VaultUpdate(Params):
    """Body of `POST /v1/vaults/{id}`: a name replaces; metadata is a patch."""

    display_name: DisplayName | None = None
    metadata: MetadataPatch | None = None


class VaultObject(Wire):
    """A vault as answers show it."""

    type: Literal["vault"] = "vault"
    id: str
    display_name: str
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class VaultDeleted(Wire):
    """The answer to a delete."""

    type: Literal["vault_deleted"] = "vault_deleted"
    id: str


class ManagedVaultPage(CursorPage[VaultObject]):
    """A page of vaults."""


class CredentialUnrestrictedNetworking(Params):
    """The value may go wherever the session's environment lets the sandbox reach."""

    type: Literal["unrestricted"]


class CredentialLimitedNetworking(Params):
    """The value may go to these hosts only."""

    type: Literal["limited"]
    allowed_hosts: Annotated[list[Host], Field(min_length=1, max_length=16)]


CredentialNetworking = Annotated[
    CredentialUnrestrictedNetworking | CredentialLimitedNetworking, Field(discriminator="type")
]


class InjectionLocation(Params):
    """Where in a request the value may be used (kept and shown; see `docs/anthropic.md`)."""

    body: bool | None = None
    header: bool | None = None


class StaticBearerCreate(Params):
    """A bearer token for one MCP server."""

    type: Literal["static_bearer"]
    token: Secret
    mcp_server_url: ServerUrl


class McpOAuthCreate(Params):
    """An OAuth access token for one MCP server; `refresh` is refused (no refresh flow here)."""

    type: Literal["mcp_oauth"]
    access_token: Secret
    mcp_server_url: ServerUrl
    expires_at: datetime | None = None
    refresh: dict[str, Any] | None = None


class EnvironmentVariableCreate(Params):
    """A variable of the sandbox the session's commands run in."""

    type: Literal["environment_variable"]
    secret_name: VariableName
    secret_value: Secret
    networking: CredentialNetworking
    injection_location: InjectionLocation | None = None


AuthCreate = Annotated[
    StaticBearerCreate | McpOAuthCreate | EnvironmentVariableCreate, Field(discriminator="type")
]


class StaticBearerUpdate(Params):
    """A new token (the URL cannot change)."""

    type: Literal["static_bearer"]
    token: Secret | None = None


class McpOAuthUpdate(Params):
    """A new access token or expiry (the URL cannot change)."""

    type: Literal["mcp_oauth"]
    access_token: Secret | None = None
    expires_at: datetime | None = None
    refresh: dict[str, Any] | None = None


class EnvironmentVariableUpdate(Params):
    """A new value, networking or injection location (the name cannot change)."""

    type: Literal["environment_variable"]
    secret_value: Secret | None = None
    networking: CredentialNetworking | None = None
    injection_location: InjectionLocation | None = None


AuthUpdate = Annotated[
    StaticBearerUpdate | McpOAuthUpdate | EnvironmentVariableUpdate, Field(discriminator="type")
]


class CredentialCreate(Params):
    """Body of `POST /v1/vaults/{id}/credentials`."""

    auth: AuthCreate
    display_name: Annotated[str, Field(max_length=255)] | None = None
    metadata: Metadata = Field(default_factory=dict)


class CredentialUpdate(Params):
    """Body of `POST /v1/vaults/{id}/credentials/{id}`: `auth.type` must stay the same."""

    auth: AuthUpdate | None = None
    display_name: Annotated[str, Field(max_length=255)] | None = None
    metadata: MetadataPatch | None = None


class StaticBearerView(Wire):
    """A bearer credential, without its token."""

    type: Literal["static_bearer"] = "static_bearer"
    mcp_server_url: str


class McpOAuthView(Wire):
    """An OAuth credential, without its token."""

    type: Literal["mcp_oauth"] = "mcp_oauth"
    mcp_server_url: str
    expires_at: datetime | None = None
    refresh: dict[str, Any] | None = None


class UnrestrictedNetworkingView(Wire):
    """No host limit of the credential's own."""

    type: Literal["unrestricted"] = "unrestricted"


class LimitedNetworkingView(Wire):
    """The hosts the value may go to."""

    type: Literal["limited"] = "limited"
    allowed_hosts: list[str]


class InjectionLocationView(Wire):
    """Where in a request the value may be used."""

    body: bool
    header: bool


class EnvironmentVariableView(Wire):
    """A variable credential, without its value."""

    type: Literal["environment_variable"] = "environment_variable"
    secret_name: str
    networking: Annotated[
        UnrestrictedNetworkingView | LimitedNetworkingView, Field(discriminator="type")
    ]
    injection_location: InjectionLocationView


AuthView = Annotated[
    StaticBearerView | McpOAuthView | EnvironmentVariableView, Field(discriminator="type")
]


class CredentialObject(Wire):
    """A credential as answers show it: never a secret."""

    type: Literal["vault_credential"] = "vault_credential"
    id: str
    vault_id: str
    auth: AuthView
    display_name: str | None = None
    metadata: dict[str, str]
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class CredentialDeleted(Wire):
    """The answer to a delete."""

    type: Literal["vault_credential_deleted"] = "vault_credential_deleted"
    id: str


class ManagedCredentialPage(CursorPage[CredentialObject]):
    """A page of a vault's credentials."""
