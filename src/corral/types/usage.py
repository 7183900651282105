"""Usage reports: tokens, cost and runs of a workspace, summed over a time range."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from corral.types.common import WireModel


class UsageGrouping(StrEnum):
    """What a usage report may group runs by (`group_by`, repeatable)."""

    DAY = "day"
    """The UTC day the run was created."""
    AGENT = "agent"
    """The stored agent the run ran (null: an inline `agent_spec`)."""
    MODEL = "model"
    KEY = "key"
    """The API key that submitted the run (null: runs from before keys were recorded)."""


class UsageTotals(WireModel):
    """Sums over runs."""

    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    """From the model catalog's prices (0 for models without prices)."""
    runs: int = 0
    """How many runs, whatever their status (an active run counts its usage so far)."""


class UsageGroup(UsageTotals):
    """The sums of one group; only the fields named in `group_by` are present."""

    day: str | None = None
    """`YYYY-MM-DD`, in UTC."""
    agent: str | None = None
    """The agent's id; null for runs of an inline `agent_spec`."""
    model: str | None = None
    key: str | None = None
    """The submitting key's id; null for runs from before keys were recorded."""


class UsageReport(WireModel):
    """The answer of `GET /v1/usage`."""

    since: datetime
    """Start of the range (included): runs are counted by the time they were created."""
    until: datetime
    """End of the range (excluded)."""
    totals: UsageTotals
    groups: list[UsageGroup]
    """One entry per group, in order of the grouped values; empty without `group_by`."""
