"""Vaults and credentials of the API as Corral's, and back.

A credential's `auth` becomes a Corral credential of the same kind, its secret a workspace secret.
An environment variable credential's `injection_location` has no Corral meaning (the sandbox
holds the value itself), so it is kept in a metadata key that answers hide. OAuth refresh
settings are refused: this server never refreshes a token.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import SecretStr

from corral.compat.anthropic.wire.vaults import (
    CredentialCreate,
    CredentialLimitedNetworking,
    CredentialObject,
    CredentialUpdate,
    EnvironmentVariableCreate,
    EnvironmentVariableUpdate,
    EnvironmentVariableView,
    InjectionLocation,
    InjectionLocationView,
    LimitedNetworkingView,
    McpOAuthCreate,
    McpOAuthUpdate,
    McpOAuthView,
    StaticBearerCreate,
    StaticBearerUpdate,
    StaticBearerView,
    UnrestrictedNetworkingView,
    VaultCreate,
    VaultObject,
    VaultUpdate,
)
from corral.errors import InvalidRequest
from corral.types.vaults import (
    CredentialCreateParams,
    CredentialUpdateParams,
    Vault,
    VaultCreateParams,
    VaultCredential,
    VaultUpdateParams,
)

INJECTION_KEY = "anthropic.injection_location"
"""The metadata key that keeps a variable credential's `injection_location` (`header,body`)."""
NO_REFRESH = (
    "this server does not refresh OAuth tokens: leave out refresh, and update the credential "
    "with a new access_token before expires_at"
)


def _time(moment: datetime | None, field: str, now: datetime) -> datetime | None:
    """A future instant, in UTC (one without a zone is taken as UTC)."""
    if moment is None:
        return None
    moment = moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
    if moment <= now:
        raise InvalidRequest("expires_at must be in the future", field=field)
    return moment


def _visible(metadata: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in metadata.items() if k != INJECTION_KEY}


def _patched(metadata: dict[str, str], patch: dict[str, str | None] | None) -> dict[str, str]:
    """Metadata with a patch applied: a string sets a key, null deletes it."""
    patched = dict(metadata)
    for key, value in (patch or {}).items():
        if key == INJECTION_KEY:
            raise InvalidRequest(f"{INJECTION_KEY!r} is kept by the server", field="/metadata")
        if value is None:
            patched.pop(key, None)
        else:
            patched[key] = value
    return patched


def vault_view(vault: Vault) -> VaultObject:
    """A Corral vault as the API's."""
    return VaultObject(
        id=vault.id,
        display_name=vault.display_name,
        metadata=vault.metadata,
        created_at=vault.created_at,
        updated_at=vault.updated_at,
        archived_at=vault.archived_at,
    )


def vault_params(body: VaultCreate) -> VaultCreateParams:
    """The Corral vault a create body asks for."""
    return VaultCreateParams(display_name=body.display_name, metadata=body.metadata)


def vault_changes(current: Vault, body: VaultUpdate) -> VaultUpdateParams:
    """What an update body changes in a Corral vault."""
    changes: dict[str, Any] = {}
    if body.display_name is not None:
        changes["display_name"] = body.display_name
    metadata = _patched(current.metadata, body.metadata)
    if metadata != current.metadata:
        changes["metadata"] = metadata
    return VaultUpdateParams.model_validate(changes)


def _injection(metadata: dict[str, str]) -> InjectionLocationView:
    places = metadata.get(INJECTION_KEY, "header,body").split(",")
    return InjectionLocationView(header="header" in places, body="body" in places)


def _injection_key(given: InjectionLocation | None, current: InjectionLocationView) -> str:
    """The kept form of an injection location; a place not given keeps its setting."""
    header = current.header if given is None or given.header is None else given.header
    body = current.body if given is None or given.body is None else given.body
    if not (header or body):
        raise InvalidRequest(
            "enable at least one of header and body", field="/auth/injection_location"
        )
    return ",".join(place for place, on in (("header", header), ("body", body)) if on)


def credential_view(credential: VaultCredential) -> CredentialObject:
    """A Corral credential as the API's, without its secret."""
    auth: StaticBearerView | McpOAuthView | EnvironmentVariableView
    url = credential.mcp_server_url or ""
    if credential.kind == "static_bearer":
        auth = StaticBearerView(mcp_server_url=url)
    elif credential.kind == "mcp_oauth":
        auth = McpOAuthView(mcp_server_url=url, expires_at=credential.expires_at)
    else:
        hosts = credential.allowed_hosts
        auth = EnvironmentVariableView(
            secret_name=credential.variable or "",
            networking=UnrestrictedNetworkingView()
            if hosts is None
            else LimitedNetworkingView(allowed_hosts=hosts),
            injection_location=_injection(credential.metadata),
        )
    return CredentialObject(
        id=credential.id,
        vault_id=credential.vault_id,
        auth=auth,
        display_name=credential.display_name,
        metadata=_visible(credential.metadata),
        created_at=credential.created_at,
        updated_at=credential.updated_at,
        archived_at=credential.archived_at,
    )


def credential_params(body: CredentialCreate, now: datetime) -> CredentialCreateParams:
    """The Corral credential a create body asks for."""
    auth = body.auth
    fields: dict[str, Any] = {
        "display_name": body.display_name or None,
        "metadata": _patched({}, dict(body.metadata)),
    }
    if isinstance(auth, StaticBearerCreate):
        fields |= {"kind": auth.type, "value": auth.token, "mcp_server_url": auth.mcp_server_url}
    elif isinstance(auth, McpOAuthCreate):
        if auth.refresh is not None:
            raise InvalidRequest(NO_REFRESH, field="/auth/refresh")
        fields |= {
            "kind": auth.type,
            "value": auth.access_token,
            "mcp_server_url": auth.mcp_server_url,
            "expires_at": _time(auth.expires_at, "/auth/expires_at", now),
        }
    else:
        assert isinstance(auth, EnvironmentVariableCreate)
        networking = auth.networking
        default = InjectionLocationView(header=True, body=True)
        fields["metadata"][INJECTION_KEY] = _injection_key(auth.injection_location, default)
        fields |= {
            "kind": auth.type,
            "value": auth.secret_value,
            "variable": auth.secret_name,
            "allowed_hosts": networking.allowed_hosts
            if isinstance(networking, CredentialLimitedNetworking)
            else None,
        }
    return CredentialCreateParams.model_validate(fields)


def _auth_changes(
    current: VaultCredential,
    auth: StaticBearerUpdate | McpOAuthUpdate | EnvironmentVariableUpdate,
    metadata: dict[str, str],
    now: datetime,
) -> dict[str, Any]:
    """What an update's `auth` changes (its injection location goes into `metadata`)."""
    if auth.type != current.kind:
        raise InvalidRequest(
            f"a credential's type cannot change: this one is {current.kind}", field="/auth/type"
        )
    value: SecretStr | None
    changes: dict[str, Any] = {}
    if isinstance(auth, McpOAuthUpdate):
        if auth.refresh is not None:
            raise InvalidRequest(NO_REFRESH, field="/auth/refresh")
        value = auth.access_token
        if "expires_at" in auth.model_fields_set:
            changes["expires_at"] = _time(auth.expires_at, "/auth/expires_at", now)
    elif isinstance(auth, EnvironmentVariableUpdate):
        value = auth.secret_value
        networking = auth.networking
        if networking is not None:
            changes["allowed_hosts"] = (
                networking.allowed_hosts
                if isinstance(networking, CredentialLimitedNetworking)
                else None
            )
        if auth.injection_location is not None:
            kept = _injection_key(auth.injection_location, _injection(current.metadata))
            metadata[INJECTION_KEY] = kept
    else:
        value = auth.token
    if value is not None:
        changes["value"] = value
    return changes


def credential_changes(
    current: VaultCredential, body: CredentialUpdate, now: datetime
) -> CredentialUpdateParams:
    """What an update body changes in a Corral credential."""
    metadata = _patched(current.metadata, body.metadata)
    changes: dict[str, Any] = {}
    if body.auth is not None:
        changes |= _auth_changes(current, body.auth, metadata, now)
    if "display_name" in body.model_fields_set:
        changes["display_name"] = body.display_name or None
    if metadata != current.metadata:
        changes["metadata"] = metadata
    return CredentialUpdateParams.model_validate(changes)


_API_FIELDS = {
    "/value": "/auth",
    "/mcp_server_url": "/auth/mcp_server_url",
    "/variable": "/auth/secret_name",
    "/allowed_hosts": "/auth/networking/allowed_hosts",
    "/expires_at": "/auth/expires_at",
}


def api_field(field: str | None) -> str | None:
    """The field of the API's body a Corral credential field comes from."""
    return None if field is None else _API_FIELDS.get(field, field)
