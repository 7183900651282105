"""The secrets vault: write-only values, sealed at rest, each change a version and audited.

A value is sealed with the server's secret key (`SecretBox`) before it reaches the database and
is opened only by `reveal`, at the moment a run uses it.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable

from corral.context import ServiceContext
from corral.errors import Conflict, InvalidRequest, NotFound, SecretNotFound
from corral.ids import new_id
from corral.pubsub.base import SECRETS_CHANNEL
from corral.services import audit
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import secrets as secret_store
from corral.storage.database import Connection
from corral.storage.secrets import SecretRecord, VersionRecord
from corral.types.secrets import (
    MAX_SECRET_BYTES,
    Secret,
    SecretCreateParams,
    SecretUpdateParams,
    SecretVersion,
)


def _wire(record: SecretRecord, versions: list[VersionRecord] | None = None) -> Secret:
    return Secret(
        id=record.id,
        name=record.name,
        description=record.description,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
        versions=None
        if versions is None
        else [
            SecretVersion(version=v.version, created_at=v.created_at, created_by=v.created_by)
            for v in versions
        ],
    )


def _seal(ctx: ServiceContext, value: str) -> str:
    if len(value.encode()) > MAX_SECRET_BYTES:
        raise InvalidRequest(f"a secret holds at most {MAX_SECRET_BYTES} bytes", field="/value")
    return ctx.secrets.seal({"value": value})


async def create(
    ctx: ServiceContext, actor: Actor, principal: Principal, params: SecretCreateParams
) -> Secret:
    """Store a new secret at version 1."""
    sealed = _seal(ctx, params.value.get_secret_value())
    now, secret_id = ctx.clock(), new_id("sec")

    def tx(conn: Connection) -> SecretRecord | None:
        if secret_store.get(conn, principal.workspace_id, params.name) is not None:
            raise Conflict(f"a secret named {params.name!r} already exists", field="/name")
        secret_store.insert(
            conn,
            secret_id=secret_id,
            workspace_id=principal.workspace_id,
            name=params.name,
            description=params.description,
            sealed=sealed,
            now=now,
            created_by=principal.key_id,
        )
        audit.record(
            conn,
            actor,
            "secret.created",
            workspace_id=principal.workspace_id,
            target_id=secret_id,
            now=now,
            details={"name": params.name, "version": 1},
        )
        return secret_store.get(conn, principal.workspace_id, params.name)

    record = await ctx.database.write(tx)
    assert record is not None
    await _changed(ctx, principal.workspace_id)
    return _wire(record)


async def update(
    ctx: ServiceContext,
    actor: Actor,
    principal: Principal,
    name: str,
    params: SecretUpdateParams,
) -> Secret:
    """Give a secret a new value: a new version, which references use from now on."""
    sealed = _seal(ctx, params.value.get_secret_value())
    now = ctx.clock()

    def tx(conn: Connection) -> SecretRecord | None:
        record = secret_store.get(conn, principal.workspace_id, name)
        if record is None:
            return None
        description = params.description if params.description is not None else record.description
        version = secret_store.add_version(
            conn,
            record,
            sealed=sealed,
            description=description,
            now=now,
            created_by=principal.key_id,
        )
        audit.record(
            conn,
            actor,
            "secret.updated",
            workspace_id=principal.workspace_id,
            target_id=record.id,
            now=now,
            details={"name": name, "version": version},
        )
        return secret_store.get(conn, principal.workspace_id, name)

    record = await ctx.database.write(tx)
    if record is None:
        raise NotFound(f"no secret {name!r}")
    await _changed(ctx, principal.workspace_id)
    return _wire(record)


async def list_secrets(ctx: ServiceContext, principal: Principal) -> list[Secret]:
    """The workspace's secrets, by name, without values."""
    records = await ctx.database.read(secret_store.list_all, principal.workspace_id)
    return [_wire(record) for record in records]


async def get(ctx: ServiceContext, principal: Principal, name: str) -> Secret:
    """A secret's metadata and versions."""

    def read(conn: Connection) -> tuple[SecretRecord, list[VersionRecord]] | None:
        record = secret_store.get(conn, principal.workspace_id, name)
        return None if record is None else (record, secret_store.versions(conn, record.id))

    found = await ctx.database.read(read)
    if found is None:
        raise NotFound(f"no secret {name!r}")
    return _wire(*found)


async def delete(ctx: ServiceContext, actor: Actor, principal: Principal, name: str) -> None:
    """Delete a secret and every version of it."""
    now = ctx.clock()

    def tx(conn: Connection) -> bool:
        record = secret_store.get(conn, principal.workspace_id, name)
        if record is None:
            return False
        secret_store.delete(conn, record.id)
        audit.record(
            conn,
            actor,
            "secret.deleted",
            workspace_id=principal.workspace_id,
            target_id=record.id,
            now=now,
            details={"name": name},
        )
        return True

    if not await ctx.database.write(tx):
        raise NotFound(f"no secret {name!r}")
    await _changed(ctx, principal.workspace_id)


async def reveal(ctx: ServiceContext, workspace_id: str, names: Collection[str]) -> dict[str, str]:
    """Name → current value of those of `names` the workspace has, for the run about to use them.

    Opened at the moment of use; the caller puts each only where it was named.
    """
    sealed = await ctx.vault.sealed(ctx.database, workspace_id)
    return {name: ctx.secrets.open(sealed[name])["value"] for name in names if name in sealed}


async def check_references(
    ctx: ServiceContext, workspace_id: str, references: Iterable[tuple[str, str]]
) -> None:
    """Refuse a run that names a secret its workspace does not have (`secret_not_found`)."""
    wanted = {name: field for field, name in references}
    if not wanted:
        return
    found = await ctx.vault.sealed(ctx.database, workspace_id)
    for name, field in wanted.items():
        if name not in found:
            raise SecretNotFound(f"no secret {name!r} in this workspace", field=field)


async def has_secret(ctx: ServiceContext, workspace_id: str, name: str) -> bool:
    """Whether the workspace has a secret of this name."""
    return name in await ctx.vault.sealed(ctx.database, workspace_id)


async def _changed(ctx: ServiceContext, workspace_id: str) -> None:
    """Every node reads the workspace's secrets again (this one at once)."""
    ctx.vault.forget(workspace_id)
    await ctx.broker.publish(SECRETS_CHANNEL, workspace_id)


async def reseal_all(ctx: ServiceContext) -> int:
    """Seal every stored secret and provider key anew under the current secret key.

    One transaction: afterwards the previous keys can be dropped from every node.
    """
    count = await ctx.database.write(secret_store.reseal_all, ctx.secrets.reseal)
    ctx.vault.forget()
    return count
