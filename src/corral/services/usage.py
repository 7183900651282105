"""Usage reports: what a workspace's runs used over a time range, summed and grouped."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from corral.context import ServiceContext
from corral.domain import usage as usage_rules
from corral.services.context import Principal
from corral.storage import usage as usage_store
from corral.types.usage import UsageGroup, UsageGrouping, UsageReport, UsageTotals

__all__ = ["of_session", "report"]


async def report(
    ctx: ServiceContext,
    principal: Principal,
    *,
    since: datetime | None,
    until: datetime | None,
    group_by: Sequence[UsageGrouping] = (),
) -> UsageReport:
    """Sums over the workspace's runs created in the range, grouped as asked.

    Every run counts, sessions' included: the report gives totals, never a run's content.
    """
    start, end = usage_rules.report_range(since, until, now=ctx.clock())
    names = [grouping.value for grouping in usage_rules.groupings(group_by)]
    rows = await ctx.database.read(
        usage_store.sums, principal.workspace_id, since=start, until=end, group_by=names
    )
    rows.sort(key=lambda row: [_order(row.group[name]) for name in names])
    totals = UsageTotals(
        input_tokens=sum(row.input_tokens for row in rows),
        output_tokens=sum(row.output_tokens for row in rows),
        cost_usd=_dollars(sum(row.cost_usd for row in rows)),
        runs=sum(row.runs for row in rows),
    )
    groups = [
        UsageGroup(
            **row.group,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cost_usd=_dollars(row.cost_usd),
            runs=row.runs,
        )
        for row in rows
    ]
    return UsageReport(since=start, until=end, totals=totals, groups=groups if names else [])


def _order(value: Any) -> tuple[bool, str]:
    """Groups sort by their values, null first (the databases disagree on where nulls go)."""
    return (value is not None, "" if value is None else str(value))


def _dollars(amount: float) -> float:
    """A sum of costs to a billionth of a dollar: the order floats are added in shows no more."""
    return round(amount, 9)


async def of_session(ctx: ServiceContext, principal: Principal, session_id: str) -> UsageTotals:
    """What the session's runs used (the caller has found the session in its workspace)."""
    sums = await ctx.database.read(usage_store.of_session, session_id)
    return UsageTotals(
        input_tokens=sums.input_tokens,
        output_tokens=sums.output_tokens,
        cost_usd=sums.cost_usd,
        runs=sums.runs,
    )
