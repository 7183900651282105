"""Environments of the API as Corral's stored environments."""

from __future__ import annotations

from datetime import datetime

from corral.compat.anthropic.translate import environments as translate
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.environments import (
    EnvironmentCreate,
    EnvironmentDeleted,
    EnvironmentObject,
    EnvironmentUpdate,
)
from corral.context import ServiceContext
from corral.errors import InvalidRequest
from corral.services import environments as environment_service
from corral.services.context import Principal
from corral.types.environments import (
    EnvironmentCreateParams,
    EnvironmentInfo,
    EnvironmentUpdateParams,
)


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def view(info: EnvironmentInfo) -> EnvironmentObject:
    """A Corral environment as the API's."""
    return EnvironmentObject(
        id=info.id,
        name=info.name,
        description=info.description or None,
        config=translate.config_view(info.config.model_dump(mode="json"), info.metadata),
        metadata=translate.visible(info.metadata),
        created_at=_time(info.created_at) or "",
        updated_at=_time(info.updated_at) or "",
        archived_at=_time(info.archived_at),
    )


async def create(
    ctx: ServiceContext, principal: Principal, body: EnvironmentCreate
) -> EnvironmentObject:
    """Store the environment."""
    if body.scope == "account":
        raise InvalidRequest("environments belong to the key's workspace", field="/scope")
    config, hidden = translate.corral_config(body.config)
    params = EnvironmentCreateParams(
        name=body.name,
        description=body.description or "",
        metadata={**body.metadata, **hidden},
        config=config,
    )
    return view(await environment_service.create(ctx, principal, params))


async def retrieve(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> EnvironmentObject:
    """The environment."""
    return view(await environment_service.get(ctx, principal, environment_id))


async def update(
    ctx: ServiceContext, principal: Principal, environment_id: str, body: EnvironmentUpdate
) -> EnvironmentObject:
    """Replace what the body gives; metadata is a patch (null deletes a key)."""
    current = await environment_service.get(ctx, principal, environment_id)
    metadata = dict(current.metadata)
    changes: dict[str, object] = {}
    if body.config is not None:
        config, hidden = translate.corral_config(body.config)
        metadata = {k: v for k, v in metadata.items() if k not in translate.HIDDEN_KEYS} | hidden
        changes["config"] = config
    for key, value in (body.metadata or {}).items():
        if key in translate.HIDDEN_KEYS:
            raise InvalidRequest(f"{key!r} is kept by the server", field="/metadata")
        if value is None:
            metadata.pop(key, None)
        else:
            metadata[key] = value
    if metadata != current.metadata:
        changes["metadata"] = metadata
    if body.name is not None:
        changes["name"] = body.name
    if "description" in body.model_fields_set:
        changes["description"] = body.description or ""
    params = EnvironmentUpdateParams.model_validate(changes)
    return view(await environment_service.update(ctx, principal, environment_id, params))


async def list_environments(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    include_archived: bool,
) -> CursorPage[EnvironmentObject]:
    """Environments, a page at a time."""
    found, more = await environment_service.list_page(
        ctx, principal, limit=limit, after=page, include_archived=include_archived
    )
    return CursorPage(
        data=[view(e) for e in found], next_page=found[-1].id if more and found else None
    )


async def archive(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> EnvironmentObject:
    """Archive the environment: new sessions may no longer use it."""
    return view(await environment_service.archive(ctx, principal, environment_id))


async def delete(
    ctx: ServiceContext, principal: Principal, environment_id: str
) -> EnvironmentDeleted:
    """Delete the environment; sessions opened with it keep their copy."""
    await environment_service.delete(ctx, principal, environment_id)
    return EnvironmentDeleted(id=environment_id)
