"""The server operator's view: create, list, suspend, resume and delete workspaces.

Reached through `/v1/workspaces` with the operator key (`CORRAL_OPERATOR_KEY`), or with
`corral workspaces` on the server. Every change is audited in the workspace's own log, under the
actor `operator`.
"""

from __future__ import annotations

import hmac

from corral.context import ServiceContext
from corral.errors import Conflict, Forbidden, NotFound, Unauthorized
from corral.ids import new_id
from corral.pubsub.base import KEYS_CHANNEL
from corral.security import keys as key_rules
from corral.services import audit, keys
from corral.services import runs as run_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage import keys as key_store
from corral.storage import workspaces as workspace_store
from corral.storage.database import Connection
from corral.storage.workspaces import WorkspaceRecord
from corral.types.keys import ApiKeyWithSecret
from corral.types.workspaces import (
    Workspace,
    WorkspaceCreateParams,
    WorkspaceLimits,
    WorkspaceWithKey,
)

OPERATOR = Principal(
    workspace_id="", workspace_name="", key_id="operator", key_name="operator", scopes=[]
)
"""Who the operator key stands for; it belongs to no workspace."""


def check_operator(ctx: ServiceContext, token: str | None) -> None:
    """Refuse anything but the server's operator key."""
    if not token:
        raise Unauthorized()
    configured = ctx.settings.operator_key
    if configured is None:
        raise Forbidden(
            "this server has no operator key, so workspaces are managed with `corral workspaces` "
            "on the server (or set CORRAL_OPERATOR_KEY)"
        )
    expected = key_rules.hash_key(configured.get_secret_value())
    if not hmac.compare_digest(key_rules.hash_key(token), expected):
        raise Forbidden("only the server's operator key manages workspaces")


def to_wire(record: WorkspaceRecord) -> Workspace:
    """A workspace as the API shows it."""
    return Workspace(
        id=record.id,
        name=record.name,
        status="suspended" if record.suspended_at else "active",
        created_at=record.created_at,
        suspended_at=record.suspended_at,
        limits=WorkspaceLimits(**(record.limits or {})),
    )


async def create(
    ctx: ServiceContext, actor: Actor, params: WorkspaceCreateParams
) -> WorkspaceWithKey:
    """Create a workspace and its first admin key."""
    now = ctx.clock()
    workspace_id, key_id, secret = new_id("ws"), new_id("key"), key_rules.generate_key()

    def tx(conn: Connection) -> tuple[WorkspaceRecord | None, key_store.KeyRecord | None]:
        if workspace_store.workspace_by_name(conn, params.name) is not None:
            raise Conflict(f"a workspace named {params.name!r} already exists", field="/name")
        workspace_store.insert_workspace(conn, workspace_id=workspace_id, name=params.name, now=now)
        key_store.insert_key(
            conn,
            key_id=key_id,
            workspace_id=workspace_id,
            name="admin",
            key_hash=key_rules.hash_key(secret),
            prefix=key_rules.display_prefix(secret),
            scopes=[key_rules.ADMIN_SCOPE],
            now=now,
        )
        audit.record(
            conn,
            actor,
            "workspace.created",
            workspace_id=workspace_id,
            target_id=workspace_id,
            now=now,
            details={"name": params.name, "admin_key": key_id},
        )
        return workspace_store.get(conn, workspace_id), key_store.get_key(
            conn, workspace_id, key_id
        )

    record, key = await ctx.database.write(tx)
    assert record is not None and key is not None
    admin_key = ApiKeyWithSecret(**keys.to_wire(key).model_dump(), secret=secret)
    return WorkspaceWithKey(**to_wire(record).model_dump(), admin_key=admin_key)


async def list_all(ctx: ServiceContext) -> list[Workspace]:
    """Every workspace of the server."""
    return [to_wire(record) for record in await ctx.database.read(workspace_store.list_all)]


async def get(ctx: ServiceContext, id_or_name: str) -> Workspace:
    """One workspace, by id or name."""
    return to_wire(await _find(ctx, id_or_name))


async def _find(ctx: ServiceContext, id_or_name: str) -> WorkspaceRecord:
    record = await ctx.database.read(workspace_store.get, id_or_name)
    if record is None:
        raise NotFound(f"no workspace {id_or_name!r}")
    return record


async def set_suspended(
    ctx: ServiceContext, actor: Actor, id_or_name: str, *, suspended: bool
) -> Workspace:
    """Suspend a workspace (its keys stop working on every node at once) or resume it.

    Its runs are left as they are: suspension stops its keys, not the work they started.
    """
    record = await _find(ctx, id_or_name)
    now = ctx.clock()
    if (record.suspended_at is not None) != suspended:

        def tx(conn: Connection) -> None:
            workspace_store.set_suspended(conn, record.id, now if suspended else None)
            audit.record(
                conn,
                actor,
                "workspace.suspended" if suspended else "workspace.resumed",
                workspace_id=record.id,
                target_id=record.id,
                now=now,
            )

        await ctx.database.write(tx)
        await ctx.broker.publish(KEYS_CHANNEL, record.id)
    return to_wire(await _find(ctx, record.id))


async def set_limits(
    ctx: ServiceContext, actor: Actor, id_or_name: str, limits: WorkspaceLimits
) -> Workspace:
    """Replace the operator's overrides of a workspace's limits, on every node at once."""
    record = await _find(ctx, id_or_name)
    overrides = limits.model_dump(exclude_none=True)
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        workspace_store.set_limits(conn, record.id, overrides or None)
        audit.record(
            conn,
            actor,
            "workspace.limits_changed",
            workspace_id=record.id,
            target_id=record.id,
            now=now,
            details={"limits": overrides},
        )

    await ctx.database.write(tx)
    await ctx.broker.publish(KEYS_CHANNEL, record.id)  # cached callers carry the old limits
    return to_wire(await _find(ctx, record.id))


async def delete(ctx: ServiceContext, actor: Actor, id_or_name: str) -> None:
    """Cancel the workspace's active runs, then delete it and everything in it.

    The audit entry of the deletion outlives it, under the deleted workspace's id.
    """
    record = await _find(ctx, id_or_name)
    owner = Principal(
        workspace_id=record.id,
        workspace_name=record.name,
        key_id=OPERATOR.key_id,
        key_name=OPERATOR.key_name,
        scopes=[key_rules.ADMIN_SCOPE],
    )
    for run_id in await ctx.database.read(workspace_store.active_runs, record.id):
        await run_service.cancel(ctx, owner, run_id, reason="the workspace was deleted")
    now = ctx.clock()

    def tx(conn: Connection) -> None:
        workspace_store.delete(conn, record.id)
        audit.record(
            conn,
            actor,
            "workspace.deleted",
            workspace_id=record.id,
            target_id=record.id,
            now=now,
            details={"name": record.name},
        )

    await ctx.database.write(tx)
    await ctx.broker.publish(KEYS_CHANNEL, record.id)
