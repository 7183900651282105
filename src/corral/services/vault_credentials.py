"""Credentials of a vault: each one's value is a workspace secret, written in the same transaction.

A credential's secret is named `vault.<credential id>`; it is listed with the workspace's other
secrets, versioned and audited like them (`secret.created`, `secret.updated`, `secret.deleted`).
Archiving or deleting the credential deletes the secret, so an archived credential has no value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain.vaults import BEARER_KINDS, same_server
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.pubsub.base import SECRETS_CHANNEL
from corral.services import audit
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import secrets as secret_store
from corral.storage import vaults as vault_store
from corral.storage.database import Connection
from corral.types.secrets import MAX_SECRET_BYTES
from corral.types.vaults import CredentialCreateParams, CredentialUpdateParams, VaultCredential

__all__ = [
    "archive",
    "create",
    "delete",
    "drop_secret",
    "get",
    "list_page",
    "open_vault",
    "secret_name_of",
    "secrets_changed",
    "update",
]


def secret_name_of(credential_id: str) -> str:
    """The name of the workspace secret that holds a credential's value."""
    return f"vault.{credential_id}"


def _seal(ctx: ServiceContext, value: str, field: str) -> str:
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise InvalidRequest(f"a secret holds at most {MAX_SECRET_BYTES} bytes", field=field)
    return ctx.secrets.seal({"value": value})


async def secrets_changed(ctx: ServiceContext, workspace_id: str) -> None:
    """Every node reads the workspace's secrets again, as after any change of a secret."""
    ctx.vault.forget(workspace_id)
    await ctx.broker.publish(SECRETS_CHANNEL, workspace_id)


def open_vault(conn: Connection, workspace_id: str, vault_id: str) -> None:
    """Refuse a vault that is not the workspace's (404) or is archived (409)."""
    vault = vault_store.get_vault(conn, workspace_id, vault_id)
    if vault is None:
        raise NotFound(f"no vault {vault_id!r}")
    if vault.archived_at is not None:
        raise Conflict(f"vault {vault_id} is archived: its credentials cannot change")


def _check_fields(params: CredentialCreateParams, now: datetime) -> None:
    """Refuse the fields another kind takes, and a missing one this kind needs."""
    bearer = params.kind in BEARER_KINDS
    needed = "mcp_server_url" if bearer else "variable"
    if getattr(params, needed) is None:
        raise InvalidRequest(f"a {params.kind} credential needs {needed}", field=f"/{needed}")
    foreign = ["variable", "allowed_hosts"] if bearer else ["mcp_server_url"]
    if params.kind != "mcp_oauth":
        foreign.append("expires_at")
    for name in foreign:
        if getattr(params, name) is not None:
            raise InvalidRequest(f"a {params.kind} credential has no {name}", field=f"/{name}")
    if params.expires_at is not None and params.expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", field="/expires_at")


def _check_unique(conn: Connection, workspace_id: str, credential: VaultCredential) -> None:
    """One credential in force per MCP server, and per variable, in a vault."""
    for other in vault_store.list_credentials(
        conn, workspace_id, credential.vault_id, limit=None, include_archived=False
    ):
        if (
            credential.mcp_server_url
            and other.mcp_server_url
            and same_server(credential.mcp_server_url, other.mcp_server_url)
        ):
            raise Conflict(
                f"credential {other.id} of this vault is already for {other.mcp_server_url}: "
                "update or archive it",
                field="/mcp_server_url",
            )
        if credential.variable and credential.variable == other.variable:
            raise Conflict(
                f"credential {other.id} of this vault already sets {other.variable}: "
                "update or archive it",
                field="/variable",
            )


def _write_secret(
    conn: Connection,
    actor: Actor,
    principal: Principal,
    credential: VaultCredential,
    sealed: str,
    now: datetime,
) -> None:
    """Make `sealed` the current value of the credential's secret (a new secret or version)."""
    name = credential.secret_name
    record = secret_store.get(conn, principal.workspace_id, name)
    if record is None:
        secret_id, version = new_id("sec"), 1
        secret_store.insert(
            conn,
            secret_id=secret_id,
            workspace_id=principal.workspace_id,
            name=name,
            description=f"the value of credential {credential.id} of vault {credential.vault_id}",
            sealed=sealed,
            now=now,
            created_by=principal.key_id,
        )
    else:
        secret_id = record.id
        version = secret_store.add_version(
            conn,
            record,
            sealed=sealed,
            description=record.description,
            now=now,
            created_by=principal.key_id,
        )
    audit.record(
        conn,
        actor,
        "secret.created" if version == 1 else "secret.updated",
        workspace_id=principal.workspace_id,
        target_id=secret_id,
        now=now,
        details={"name": name, "version": version, "credential_id": credential.id},
    )


def drop_secret(
    conn: Connection, actor: Actor, workspace_id: str, credential: VaultCredential, now: datetime
) -> None:
    """Delete the credential's secret, if it still has one."""
    record = secret_store.get(conn, workspace_id, credential.secret_name)
    if record is None:
        return
    secret_store.delete(conn, record.id)
    audit.record(
        conn,
        actor,
        "secret.deleted",
        workspace_id=workspace_id,
        target_id=record.id,
        now=now,
        details={"name": credential.secret_name, "credential_id": credential.id},
    )


def _find(
    conn: Connection, workspace_id: str, vault_id: str, credential_id: str
) -> VaultCredential:
    found = vault_store.get_credential(conn, workspace_id, vault_id, credential_id)
    if found is None:
        raise NotFound(f"no credential {credential_id!r} in vault {vault_id!r}")
    return found


async def create(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    vault_id: str,
    params: CredentialCreateParams,
) -> VaultCredential:
    """Store a credential in the vault, and its value as a new workspace secret."""
    now = ctx.clock()
    _check_fields(params, now)
    sealed = _seal(ctx, params.value.get_secret_value(), "/value")
    credential_id = new_id("vcrd")
    credential = VaultCredential(
        id=credential_id,
        vault_id=vault_id,
        secret_name=secret_name_of(credential_id),
        created_at=now,
        updated_at=now,
        archived_at=None,
        **params.model_dump(exclude={"value"}),
    )

    def tx(conn: Connection) -> None:
        open_vault(conn, principal.workspace_id, vault_id)
        _check_unique(conn, principal.workspace_id, credential)
        _write_secret(conn, actor, principal, credential, sealed, now)
        vault_store.insert_credential(conn, principal.workspace_id, credential)

    await ctx.database.write(tx)
    await secrets_changed(ctx, principal.workspace_id)
    return credential


async def get(
    ctx: ServiceContext, principal: Principal, vault_id: str, credential_id: str
) -> VaultCredential:
    """The credential, or `NotFound` (also when it is in another vault)."""
    return await ctx.database.read(_find, principal.workspace_id, vault_id, credential_id)


async def list_page(
    ctx: ServiceContext,
    principal: Principal,
    vault_id: str,
    *,
    limit: int,
    after: str | None,
    include_archived: bool,
) -> tuple[list[VaultCredential], bool]:
    """A page of the vault's credentials newest first, and whether more follow."""

    def read(conn: Connection) -> list[VaultCredential]:
        if vault_store.get_vault(conn, principal.workspace_id, vault_id) is None:
            raise NotFound(f"no vault {vault_id!r}")
        return vault_store.list_credentials(
            conn,
            principal.workspace_id,
            vault_id,
            limit=limit + 1,
            before_id=after,
            include_archived=include_archived,
        )

    found = await ctx.database.read(read)
    return found[:limit], len(found) > limit


def _changes(
    current: VaultCredential, params: CredentialUpdateParams, now: datetime
) -> dict[str, Any]:
    """The columns an update changes, once each is one the credential's kind has."""
    given = params.model_fields_set
    changes: dict[str, Any] = {}
    if "display_name" in given:
        changes["display_name"] = params.display_name
    if params.metadata is not None:
        changes["metadata"] = params.metadata
    for name, kinds in (("allowed_hosts", {"environment_variable"}), ("expires_at", {"mcp_oauth"})):
        if name not in given:
            continue
        if current.kind not in kinds:
            raise InvalidRequest(f"a {current.kind} credential has no {name}", field=f"/{name}")
        changes[name] = getattr(params, name)
    expires_at = changes.get("expires_at")
    if expires_at is not None and expires_at <= now:
        raise InvalidRequest("expires_at must be in the future", field="/expires_at")
    return changes


async def update(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    vault_id: str,
    credential_id: str,
    params: CredentialUpdateParams,
) -> VaultCredential:
    """Change what `params` gives; a new value is a new version of the credential's secret."""
    now = ctx.clock()
    sealed = None
    if params.value is not None:
        sealed = _seal(ctx, params.value.get_secret_value(), "/value")

    def tx(conn: Connection) -> VaultCredential:
        current = _find(conn, principal.workspace_id, vault_id, credential_id)
        if current.archived_at is not None:
            raise Conflict(f"credential {credential_id} is archived: it cannot change")
        changes = _changes(current, params, now)
        if sealed is not None:
            _write_secret(conn, actor, principal, current, sealed, now)
        if changes or sealed is not None:
            vault_store.update_credential(conn, credential_id, {**changes, "updated_at": now})
        return _find(conn, principal.workspace_id, vault_id, credential_id)

    updated = await ctx.database.write(tx)
    if sealed is not None:
        await secrets_changed(ctx, principal.workspace_id)
    return updated


async def archive(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str, credential_id: str
) -> VaultCredential:
    """Archive the credential and delete its value; archiving again changes nothing."""
    now = ctx.clock()

    def tx(conn: Connection) -> VaultCredential:
        current = _find(conn, principal.workspace_id, vault_id, credential_id)
        if current.archived_at is None:
            vault_store.archive_credential(conn, credential_id, now)
            drop_secret(conn, actor, principal.workspace_id, current, now)
        return _find(conn, principal.workspace_id, vault_id, credential_id)

    archived = await ctx.database.write(tx)
    await secrets_changed(ctx, principal.workspace_id)
    return archived


async def delete(
    ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str, credential_id: str
) -> None:
    """Delete the credential and its value."""
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        current = _find(conn, principal.workspace_id, vault_id, credential_id)
        drop_secret(conn, actor, principal.workspace_id, current, now)
        vault_store.delete_credential(conn, credential_id)

    await ctx.database.write(tx)
    await secrets_changed(ctx, principal.workspace_id)
