"""Vaults of credentials: kept, changed and archived here, and given to sessions.

A session names its vaults; each message it runs gets the credentials then in force
(`domain.vaults.apply`), so a token updated, a credential added or one archived counts from the
session's next message on. Archiving a vault archives its credentials and deletes their values.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from corral.context import ServiceContext
from corral.domain import vaults as vault_rules
from corral.domain.run_spec import RunSpec
from corral.errors import Conflict, InvalidRequest, NotFound
from corral.ids import new_id
from corral.services import vault_credentials
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import vaults as vault_store
from corral.storage.database import Connection
from corral.types.vaults import Vault, VaultCreateParams, VaultCredential, VaultUpdateParams

__all__ = [
    "apply_to_session",
    "archive",
    "check_for_session",
    "create",
    "delete",
    "get",
    "list_page",
    "of_session",
    "update",
]


def _find(conn: Connection, workspace_id: str, vault_id: str) -> Vault:
    found = vault_store.get_vault(conn, workspace_id, vault_id)
    if found is None:
        raise NotFound(f"no vault {vault_id!r}")
    return found


async def create(ctx: ServiceContext, principal: Principal, params: VaultCreateParams) -> Vault:
    """Store a new, empty vault."""
    now = ctx.clock()
    vault = Vault(
        id=new_id("vlt"),
        display_name=params.display_name,
        metadata=params.metadata,
        created_at=now,
        updated_at=now,
        archived_at=None,
    )
    await ctx.database.write_statement(vault_store.insert_vault, principal.workspace_id, vault)
    return vault


async def get(ctx: ServiceContext, principal: Principal, vault_id: str) -> Vault:
    """The vault, or `NotFound` (also for another workspace's)."""
    return await ctx.database.read(_find, principal.workspace_id, vault_id)


async def list_page(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    after: str | None,
    include_archived: bool,
) -> tuple[list[Vault], bool]:
    """A page of vaults newest first, and whether more follow (`after`: the last id seen)."""
    found = await ctx.database.read(
        vault_store.list_vaults,
        principal.workspace_id,
        limit=limit + 1,
        before_id=after,
        include_archived=include_archived,
    )
    return found[:limit], len(found) > limit


async def update(
    ctx: ServiceContext, principal: Principal, vault_id: str, params: VaultUpdateParams
) -> Vault:
    """Replace the fields given; an archived vault is refused."""
    changes: dict[str, Any] = params.model_dump(exclude_none=True)
    now = ctx.clock()

    def tx(conn: Connection) -> Vault:
        current = _find(conn, principal.workspace_id, vault_id)
        if current.archived_at is not None:
            raise Conflict(f"vault {vault_id} is archived: it cannot change")
        if changes:
            vault_store.update_vault(
                conn, principal.workspace_id, vault_id, {**changes, "updated_at": now}
            )
        return _find(conn, principal.workspace_id, vault_id)

    return await ctx.database.write(tx)


async def archive(ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str) -> Vault:
    """Archive the vault and its credentials, deleting their values; again changes nothing."""
    now = ctx.clock()

    def tx(conn: Connection) -> Vault:
        current = _find(conn, principal.workspace_id, vault_id)
        if current.archived_at is None:
            vault_store.archive_vault(conn, principal.workspace_id, vault_id, now)
            for credential in vault_store.list_credentials(
                conn, principal.workspace_id, vault_id, limit=None, include_archived=False
            ):
                vault_store.archive_credential(conn, credential.id, now)
                vault_credentials.drop_secret(conn, actor, principal.workspace_id, credential, now)
        return _find(conn, principal.workspace_id, vault_id)

    archived = await ctx.database.write(tx)
    await vault_credentials.secrets_changed(ctx, principal.workspace_id)
    return archived


async def delete(ctx: ServiceContext, actor: Actor, principal: Principal, vault_id: str) -> None:
    """Delete the vault, its credentials and their values; sessions keep naming it."""
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        _find(conn, principal.workspace_id, vault_id)
        for credential in vault_store.list_credentials(
            conn, principal.workspace_id, vault_id, limit=None, include_archived=True
        ):
            vault_credentials.drop_secret(conn, actor, principal.workspace_id, credential, now)
        vault_store.delete_vault(conn, principal.workspace_id, vault_id)

    await ctx.database.write(tx)
    await vault_credentials.secrets_changed(ctx, principal.workspace_id)


async def check_for_session(
    ctx: ServiceContext,
    principal: Principal,
    vault_ids: Sequence[str],
    spec: RunSpec,
    *,
    field: str = "/vault_ids",
) -> None:
    """Refuse vaults a session of `spec` cannot be given.

    That is an unknown, archived or repeated vault, or one with a credential the session could
    not use (see `domain.vaults`).
    """

    def read(conn: Connection) -> tuple[list[Vault | None], list[VaultCredential]]:
        found = [vault_store.get_vault(conn, principal.workspace_id, v) for v in vault_ids]
        return found, vault_store.credentials_in_use(conn, principal.workspace_id, vault_ids)

    found, credentials = await ctx.database.read(read)
    for index, (vault_id, vault) in enumerate(zip(vault_ids, found, strict=True)):
        if vault_id in vault_ids[:index]:
            raise InvalidRequest(f"vault {vault_id!r} is named twice", field=f"{field}/{index}")
        if vault is None:
            raise NotFound(f"no vault {vault_id!r}", field=f"{field}/{index}")
        if vault.archived_at is not None:
            raise Conflict(
                f"vault {vault_id} is archived: no session may use it", field=f"{field}/{index}"
            )
    vault_rules.apply(spec, credentials, now=ctx.clock(), field=field)


async def of_session(ctx: ServiceContext, session_id: str) -> list[str]:
    """The vaults the session names, in its order (a deleted one included)."""
    return await ctx.database.read(vault_store.vault_ids_of, session_id)


async def apply_to_session(
    ctx: ServiceContext, workspace_id: str, session_id: str, spec: RunSpec
) -> RunSpec:
    """`spec`, for the session's next message, with the credentials of its vaults in force."""

    def read(conn: Connection) -> list[VaultCredential]:
        vault_ids = vault_store.vault_ids_of(conn, session_id)
        return vault_store.credentials_in_use(conn, workspace_id, vault_ids)

    credentials = await ctx.database.read(read)
    if not credentials:
        return spec
    return vault_rules.apply(spec, credentials, now=ctx.clock())
