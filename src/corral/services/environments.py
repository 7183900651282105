"""Environments: create, read, list, change, archive and delete stored sandbox configurations.

A session opened with an environment copies its config into the session's spec, so changing,
archiving or deleting the environment later never changes a session already opened with it.
"""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.errors import EnvironmentArchived, NotFound
from corral.ids import new_id
from corral.services import agents as agent_service
from corral.services.context import Principal
from corral.storage import environments as environment_store
from corral.storage.database import Connection
from corral.storage.environments import EnvironmentRecord
from corral.types.agents import Environment
from corral.types.environments import (
    EnvironmentCreateParams,
    EnvironmentInfo,
    EnvironmentUpdateParams,
)

__all__ = [
    "archive",
    "config_for_session",
    "create",
    "delete",
    "get",
    "list_page",
    "to_wire",
    "update",
]


def to_wire(record: EnvironmentRecord) -> EnvironmentInfo:
    """The environment as the API shows it."""
    return EnvironmentInfo(
        id=record.id,
        name=record.name,
        description=record.description,
        metadata=record.metadata,
        config=Environment.model_validate(record.config),
        created_at=record.created_at,
        updated_at=record.updated_at,
        archived_at=record.archived_at,
    )


def _config(ctx: ServiceContext, config: Environment) -> dict[str, Any]:
    """The config as stored, once this server can enforce it."""
    stored = config.model_dump(mode="json")
    agent_service.check_environment(ctx, stored, field="/config")
    return stored


def _missing(environment_id: str, field: str | None = None) -> NotFound:
    return NotFound(f"no environment {environment_id!r}", field=field)


def _archived(
    record: EnvironmentRecord, doing: str, field: str | None = None
) -> EnvironmentArchived:
    return EnvironmentArchived(
        f"environment {record.id!r} is archived: it cannot {doing}", field=field
    )


async def _find(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> EnvironmentRecord:
    record = await ctx.database.read(environment_store.get, principal.workspace_id, environment_id)
    if record is None:
        raise _missing(environment_id)
    return record


async def create(
    ctx: ServiceContext, principal: Principal, params: EnvironmentCreateParams
) -> EnvironmentInfo:
    """Store a new environment."""
    now = ctx.clock()
    record = EnvironmentRecord(
        id=new_id("env"),
        workspace_id=principal.workspace_id,
        name=params.name,
        description=params.description,
        metadata=params.metadata,
        config=_config(ctx, params.config),
        created_at=now,
        updated_at=now,
        archived_at=None,
    )
    await ctx.database.write_statement(environment_store.insert, record)
    return to_wire(record)


async def get(ctx: ServiceContext, principal: Principal, environment_id: str) -> EnvironmentInfo:
    """The environment, or `NotFound` (also for another workspace's)."""
    return to_wire(await _find(ctx, principal, environment_id))


async def list_page(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    after: str | None,
    include_archived: bool,
) -> tuple[list[EnvironmentInfo], bool]:
    """A page of environments newest first, and whether more follow.

    `after` is the last id of the previous page.
    """
    records = await ctx.database.read(
        environment_store.list_page,
        principal.workspace_id,
        limit=limit + 1,
        before_id=after,
        include_archived=include_archived,
    )
    return [to_wire(record) for record in records[:limit]], len(records) > limit


async def update(
    ctx: ServiceContext,
    principal: Principal,
    environment_id: str,
    params: EnvironmentUpdateParams,
) -> EnvironmentInfo:
    """Replace the fields given (null leaves a field as it is); an archived one is refused."""
    changes: dict[str, Any] = params.model_dump(exclude_none=True, exclude={"config"})
    if params.config is not None:
        changes["config"] = _config(ctx, params.config)
    now = ctx.clock()

    def tx(conn: Connection) -> EnvironmentRecord:
        current = environment_store.get(conn, principal.workspace_id, environment_id)
        if current is None:
            raise _missing(environment_id)
        if current.archived_at is not None:
            raise _archived(current, "be changed")
        if not changes:
            return current
        environment_store.update(
            conn, principal.workspace_id, environment_id, {**changes, "updated_at": now}
        )
        changed = environment_store.get(conn, principal.workspace_id, environment_id)
        assert changed is not None
        return changed

    return to_wire(await ctx.database.write(tx))


async def archive(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> EnvironmentInfo:
    """Archive the environment: new sessions may no longer use it; archiving again does nothing."""
    now = ctx.clock()

    def tx(conn: Connection) -> EnvironmentRecord | None:
        environment_store.archive(conn, principal.workspace_id, environment_id, now)
        return environment_store.get(conn, principal.workspace_id, environment_id)

    record = await ctx.database.write(tx)
    if record is None:
        raise _missing(environment_id)
    return to_wire(record)


async def delete(ctx: ServiceContext, principal: Principal, environment_id: str) -> None:
    """Delete the environment; sessions opened with it keep their copy of its config."""
    deleted = await ctx.database.write_statement(
        environment_store.delete, principal.workspace_id, environment_id
    )
    if not deleted:
        raise _missing(environment_id)


async def config_for_session(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> dict[str, Any]:
    """The config a new session copies from the environment; an archived one is refused."""
    record = await ctx.database.read(environment_store.get, principal.workspace_id, environment_id)
    if record is None:
        raise _missing(environment_id, field="/environment_id")
    if record.archived_at is not None:
        raise _archived(record, "be used by a new session", field="/environment_id")
    return record.config
