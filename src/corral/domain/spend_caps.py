"""Spend caps beyond one run: a workspace's and an agent's per UTC day and month, a session's.

They are checked when work is submitted: a new run or session message is refused (402
`spend_limit_reached`) once what its workspace, agent or session has spent reaches a cap. Runs
already going are left alone by the period caps; a session's cap also stops its running run (see
`budgets.SessionBudget`). These rules say which caps apply, over which period, and what a
refusal says; the sums come from storage.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from corral.domain.event_log import format_time
from corral.domain.usage import month_start, next_month_start
from corral.errors import InvalidRequest, SpendLimitReached
from corral.types.errors import ErrorCode

__all__ = [
    "WORKSPACE_SETTINGS",
    "Period",
    "SpendCap",
    "agent_caps",
    "check",
    "check_priced",
    "session_cap",
    "workspace_caps",
]


class Period(StrEnum):
    """The UTC calendar period a cap counts over."""

    DAY = "day"
    MONTH = "month"

    def window(self, now: datetime) -> tuple[datetime, datetime]:
        """The period `now` falls in: its start (included) and when it resets (excluded)."""
        if self is Period.MONTH:
            return month_start(now), next_month_start(now)
        start = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)


WORKSPACE_SETTINGS: Mapping[Period, str] = {
    Period.DAY: "spend_per_day_usd",
    Period.MONTH: "spend_per_month_usd",
}
"""The `WorkspaceLimits` name of each period's workspace cap."""

_AGENT_SETTINGS: Mapping[Period, str] = {Period.DAY: "per_day_usd", Period.MONTH: "per_month_usd"}


@dataclass(frozen=True, kw_only=True, slots=True)
class SpendCap:
    """One cap that applies to a submit: whose it is, how much, and over which period."""

    field: str
    """Names the cap in refusals and in whoami: `limits.spend_per_day_usd`,
    `agent.spend_limits.per_month_usd`, `max_spend_usd` (a session's)."""
    owner: str
    """Whose cap it is, for messages: `this workspace`, `agent 'triage'`, `session ses_…`."""
    cap_usd: float
    period: Period | None
    """None: the whole life of a session (`session_id`)."""
    agent_id: str | None = None
    """Spend counts over this agent's runs (otherwise over the workspace's)."""
    session_id: str | None = None
    """Spend counts over this session's runs, for its whole life."""

    def window(self, now: datetime) -> tuple[datetime, datetime] | None:
        """The period the spend counts over now; None for a session's whole life."""
        return self.period.window(now) if self.period is not None else None


def _cap(value: Any) -> float | None:
    """A configured cap in dollars; 0 and None mean none."""
    return float(value) if value else None


def workspace_caps(
    overrides: Mapping[str, float], defaults: Mapping[Period, float | None]
) -> list[SpendCap]:
    """The workspace's period caps: the operator's for it, else the server's (0: no cap)."""
    caps = []
    for period, name in WORKSPACE_SETTINGS.items():
        cap = _cap(overrides[name] if name in overrides else defaults.get(period))
        if cap is not None:
            caps.append(
                SpendCap(field=f"limits.{name}", owner="this workspace", cap_usd=cap, period=period)
            )
    return caps


def agent_caps(agent_id: str, agent_name: str, spend_limits: Mapping[str, Any]) -> list[SpendCap]:
    """A stored agent's period caps (`spend_limits` of its latest version)."""
    caps = []
    for period, name in _AGENT_SETTINGS.items():
        cap = _cap(spend_limits.get(name))
        if cap is not None:
            caps.append(
                SpendCap(
                    field=f"agent.spend_limits.{name}",
                    owner=f"agent {agent_name!r}",
                    cap_usd=cap,
                    period=period,
                    agent_id=agent_id,
                )
            )
    return caps


def session_cap(session_id: str, max_spend_usd: float | None) -> SpendCap | None:
    """A session's cap over its whole life, if it has one."""
    if max_spend_usd is None:
        return None
    return SpendCap(
        field="max_spend_usd",
        owner=f"session {session_id}",
        cap_usd=max_spend_usd,
        period=None,
        session_id=session_id,
    )


def check_priced(cap: SpendCap, model: str, priced: bool) -> None:
    """Refuse a run of a model without a price where a cap applies: its spend could not count."""
    if not priced:
        raise InvalidRequest(
            f"the model {model!r} has no price in the catalog, and {cap.owner} caps its spend "
            f"({cap.field}); use a priced model or give this one prices (CORRAL_MODEL_CATALOG)",
            field=cap.field,
            code=ErrorCode.MODEL_NOT_PRICED,
        )


def check(cap: SpendCap, spent_usd: float, now: datetime) -> None:
    """Refuse more work once `spent_usd` has reached the cap."""
    if spent_usd < cap.cap_usd:
        return
    spent = f"{cap.owner} has spent ${spent_usd:.4f} of its ${cap.cap_usd:.4f} cap"
    window = cap.window(now)
    if window is None:
        message = (
            f"{spent} ({cap.field}); raise it with PATCH /v1/sessions/{cap.session_id} "
            "to send more messages"
        )
        resets_at = None
    else:
        resets_at = format_time(window[1])
        message = f"{spent} per UTC {cap.period} ({cap.field}); it resets at {resets_at}"
    raise SpendLimitReached(
        message,
        field=cap.field,
        cap_usd=cap.cap_usd,
        spent_usd=round(spent_usd, 9),
        resets_at=resets_at,
    )
