"""Where a workspace stands against its quotas: concurrent runs and stored bytes (`whoami`)."""

from __future__ import annotations

from corral.context import ServiceContext
from corral.domain import quotas
from corral.services.context import Principal
from corral.services.files import stored_bytes_limit
from corral.storage import files as file_store
from corral.storage import workspaces as workspace_store
from corral.storage.database import Connection


async def standing(ctx: ServiceContext, principal: Principal) -> dict[str, int | None]:
    """The workspace's quotas (None: unlimited) and its use of them now.

    The keys are the names of the fields of `EffectiveLimits` that show them.
    """
    settings = ctx.settings

    def read(conn: Connection) -> tuple[int, int]:
        return (
            workspace_store.held_runs(conn, principal.workspace_id),
            file_store.stored_bytes(conn, principal.workspace_id),
        )

    active, stored = await ctx.database.read(read)
    return {
        "max_concurrent_runs": quotas.effective(
            principal.limits, quotas.MAX_CONCURRENT_RUNS, settings.workspace_max_concurrent_runs
        ),
        "max_concurrent_runs_per_agent": quotas.effective(
            principal.limits,
            quotas.MAX_CONCURRENT_RUNS_PER_AGENT,
            settings.agent_max_concurrent_runs,
        ),
        "active_runs": active,
        "max_stored_bytes": stored_bytes_limit(ctx, principal),
        "stored_bytes": stored,
    }
