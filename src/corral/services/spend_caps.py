"""Spend caps at submit, and where a workspace stands against its caps.

Every way work is submitted (`POST /v1/runs`, a session's message, the MANTYX facade) calls
`check_submit` before it stores the run. It reads nothing when no cap applies; otherwise one
read sums what the capped workspace, agent or session has spent (`storage.usage.spent`).

Spend caps fail closed: when the spend cannot be read, the submit is refused (503
`unavailable`) rather than let through uncounted. Rate limits fail open instead, as they protect
capacity and these protect money.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from corral.context import ServiceContext
from corral.domain import spend_caps as spend_rules
from corral.domain.spend_caps import Period, SpendCap
from corral.errors import Unavailable
from corral.services.context import Principal
from corral.settings import Settings
from corral.storage import agents as agent_store
from corral.storage import usage as usage_store
from corral.storage.database import Connection
from corral.types.workspaces import SpendStanding

__all__ = ["check_submit", "standing", "workspace_caps"]


def workspace_caps(settings: Settings, principal: Principal) -> list[SpendCap]:
    """The caller's workspace's period caps: the operator's for it, else the server's."""
    defaults: Mapping[Period, float | None] = {
        Period.DAY: settings.workspace_spend_per_day_usd,
        Period.MONTH: settings.workspace_spend_per_month_usd,
    }
    return spend_rules.workspace_caps(principal.limits, defaults)


def _spent(conn: Connection, workspace_id: str, cap: SpendCap, now: datetime) -> float:
    window = cap.window(now)
    return usage_store.spent(
        conn,
        workspace_id,
        since=window[0] if window is not None else None,
        agent_id=cap.agent_id,
        session_id=cap.session_id,
    )


async def check_submit(
    ctx: ServiceContext,
    principal: Principal,
    *,
    model: str,
    agent_id: str | None,
    session: SpendCap | None = None,
) -> None:
    """Refuse a new run of `model` once a cap that applies to it is reached.

    The caps are the workspace's, those of the stored agent `agent_id` (its latest version's,
    whichever version runs) and the session's, if given. 402 `spend_limit_reached` names the
    cap in `field`; 400 `model_not_priced` when the model has no price to count.
    """
    caps = workspace_caps(ctx.settings, principal)
    if session is not None:
        caps.insert(0, session)
    if not caps and agent_id is None:
        return
    now = ctx.clock()

    def read(conn: Connection) -> list[tuple[SpendCap, float]]:
        found = list(caps)
        if agent_id is not None:
            agent = agent_store.find(conn, principal.workspace_id, agent_id)
            if agent is not None:  # else deleted since: its caps went with it
                limits = agent.spec.get("spend_limits") or {}
                found += spend_rules.agent_caps(agent.id, agent.name, limits)
        return [(cap, _spent(conn, principal.workspace_id, cap, now)) for cap in found]

    try:
        standings = await ctx.database.read(read)
    except Unavailable as error:
        first = caps[0].field if caps else "agent.spend_limits"
        raise Unavailable(
            f"the spend caps of this submit cannot be checked ({error.message}), so it is "
            "refused rather than let through uncounted; retry shortly",
            field=first,
        ) from error
    if not standings:
        return
    priced = ctx.models.resolve(model).pricing is not None
    for cap, _ in standings:
        spend_rules.check_priced(cap, model, priced)
    for cap, spent in standings:
        spend_rules.check(cap, spent, now)


async def standing(ctx: ServiceContext, principal: Principal) -> list[SpendStanding]:
    """The workspace's period caps, with what is spent and left of each (for whoami).

    A spend that cannot be read shows as null: whoami reports, it does not refuse.
    """
    caps = workspace_caps(ctx.settings, principal)
    if not caps:
        return []
    now = ctx.clock()

    def read(conn: Connection) -> list[float]:
        return [_spent(conn, principal.workspace_id, cap, now) for cap in caps]

    try:
        spent: list[float | None] = list(await ctx.database.read(read))
    except Unavailable:
        spent = [None] * len(caps)
    standings = []
    for cap, used in zip(caps, spent, strict=True):
        window = cap.window(now)
        assert window is not None and cap.period is not None  # workspace caps have periods
        standings.append(
            SpendStanding(
                field=cap.field,
                period="day" if cap.period is Period.DAY else "month",
                cap_usd=cap.cap_usd,
                spent_usd=None if used is None else round(used, 9),
                remaining_usd=None if used is None else round(max(cap.cap_usd - used, 0.0), 9),
                resets_at=window[1],
            )
        )
    return standings
