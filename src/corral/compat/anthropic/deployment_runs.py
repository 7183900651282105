"""Deployment runs of the API as the fires of deployments' routines.

A run is a fire that opened its session (`started`) or failed to (`failed`), set off by the
schedule or by hand; fires a routine skipped (a time missed while no server ran, say) are not
runs. The agent shown is the version the run's session opened with.
"""

from __future__ import annotations

from datetime import datetime

from corral.compat.anthropic import deployments
from corral.compat.anthropic.translate import deployments as translate
from corral.compat.anthropic.wire.common import CursorPage
from corral.compat.anthropic.wire.deployments import DeploymentAgent, DeploymentRunObject
from corral.context import ServiceContext
from corral.errors import Conflict, NotFound
from corral.services import fires as fire_service
from corral.services import sessions as session_service
from corral.services.context import Principal
from corral.storage.routine_fires import FireQuery
from corral.types.common import Page
from corral.types.routines import Fire, FireStatus, Routine, RunNowParams, TriggerType


class _Routines:
    """The routines of the fires being shown, each read once (None: not a deployment)."""

    def __init__(self, ctx: ServiceContext, principal: Principal) -> None:
        self._ctx = ctx
        self._principal = principal
        self._found: dict[str, Routine | None] = {}

    async def get(self, routine_id: str) -> Routine | None:
        if routine_id not in self._found:
            try:
                found = await deployments.find(self._ctx, self._principal, routine_id)
            except NotFound:
                found = None
            self._found[routine_id] = found
        return self._found[routine_id]


async def view(
    ctx: ServiceContext, principal: Principal, fire: Fire, routine: Routine
) -> DeploymentRunObject:
    """A fire of the deployment's routine as the API's deployment run."""
    version = None
    if fire.session_id is not None and fire.status == FireStatus.STARTED:
        try:
            row = await session_service.find(ctx, principal, fire.session_id)
            version = row["agent_version"]
        except NotFound:
            pass  # purged since
    if version is None:
        version = await deployments.agent_version(ctx, principal, routine)
    return translate.run_view(fire, DeploymentAgent(id=routine.agent, version=version))


def _is_run(fire: Fire) -> bool:
    return fire.trigger in translate.RUN_TRIGGERS and fire.status not in (
        FireStatus.SKIPPED,
        FireStatus.FILTERED,
        FireStatus.DUPLICATE,
    )


async def run_now(
    ctx: ServiceContext, principal: Principal, deployment_id: str, idempotency_key: str | None
) -> DeploymentRunObject:
    """Fire the deployment now, paused or not; the run once a worker opened its session.

    With an `idempotency_key` used before, the first run it made.
    """
    routine = await deployments.find(ctx, principal, deployment_id)
    if translate.archived_at(routine) is not None:
        raise Conflict(f"deployment {deployment_id!r} is archived: it runs no more")
    params = RunNowParams(idempotency_key=idempotency_key)
    fire, _ = await fire_service.run_now(ctx, principal, routine.id, params)
    return await view(ctx, principal, fire, routine)


async def retrieve(ctx: ServiceContext, principal: Principal, run_id: str) -> DeploymentRunObject:
    """One deployment run."""
    missing = NotFound(f"no deployment run {run_id!r}")
    try:
        fire = await fire_service.get_fire(ctx, principal, run_id)
    except NotFound:
        raise missing from None
    routine = await _Routines(ctx, principal).get(fire.routine_id)
    if routine is None or not _is_run(fire):
        raise missing
    return await view(ctx, principal, fire, routine)


async def list_runs(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    page: str | None,
    deployment_id: str | None,
    trigger_type: TriggerType | None,
    has_error: bool | None,
    created: tuple[datetime | None, datetime | None, datetime | None, datetime | None],
) -> CursorPage[DeploymentRunObject]:
    """Runs of every deployment, or of one, newest first.

    `created` bounds their creation time: after, from, before, until.
    """
    statuses: tuple[FireStatus, ...] = translate.RUN_STATUSES
    if has_error is not None:
        statuses = (FireStatus.FAILED,) if has_error else (FireStatus.STARTED,)
    after, from_, before, until = (translate.as_utc(moment) for moment in created)
    query = FireQuery(
        routine_id=deployment_id,
        statuses=statuses,
        trigger_types=(trigger_type,) if trigger_type else translate.RUN_TRIGGERS,
        created_after=after,
        created_from=from_,
        created_before=before,
        created_until=until,
    )
    routines = _Routines(ctx, principal)

    async def fetch(cursor: str | None) -> Page[Fire]:
        return await fire_service.listed(ctx, principal, query, limit=limit, cursor=cursor)

    async def keep(fire: Fire) -> DeploymentRunObject | None:
        routine = await routines.get(fire.routine_id)
        return None if routine is None else await view(ctx, principal, fire, routine)

    return await deployments.collect(fetch, keep, limit=limit, page=page)
