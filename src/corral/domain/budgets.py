"""A run's budget, the verdicts that end it when exceeded, and estimates of unreported usage."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from corral.errors import BudgetExceeded
from corral.types.errors import ErrorCode


@dataclass(frozen=True, kw_only=True, slots=True)
class Budget:
    """Limits of one run, with defaults already applied."""

    max_turns: int
    max_tool_calls_per_turn: int
    max_output_tokens: int | None
    timeout_s: float
    max_spend_usd: float | None = None
    tree_max_spend_usd: float | None = None
    """A subagent's: the spend cap of its tree's root, which the whole tree shares."""

    @property
    def tree_cap_usd(self) -> float | None:
        """The cap on what the run's tree spends: its root's, or for a root its own."""
        return (
            self.tree_max_spend_usd if self.tree_max_spend_usd is not None else self.max_spend_usd
        )

    @classmethod
    def from_json(cls, limits: Mapping[str, Any]) -> Budget:
        """Read the resolved limits stored with a run."""
        return cls(
            max_turns=limits["max_turns"],
            max_tool_calls_per_turn=limits["max_tool_calls_per_turn"],
            max_output_tokens=limits.get("max_output_tokens"),
            timeout_s=limits["timeout_s"],
            max_spend_usd=limits.get("max_spend_usd"),
            tree_max_spend_usd=limits.get("tree_max_spend_usd"),
        )

    def to_json(self) -> dict[str, Any]:
        """The limits as stored with a run (a spend cap only when there is one)."""
        stored: dict[str, Any] = {
            "max_turns": self.max_turns,
            "max_tool_calls_per_turn": self.max_tool_calls_per_turn,
            "max_output_tokens": self.max_output_tokens,
            "timeout_s": self.timeout_s,
        }
        if self.max_spend_usd is not None:
            stored["max_spend_usd"] = self.max_spend_usd
        if self.tree_max_spend_usd is not None:
            stored["tree_max_spend_usd"] = self.tree_max_spend_usd
        return stored


@dataclass(frozen=True, kw_only=True)
class Defaults:
    """Server-wide defaults for limits an agent leaves unset."""

    max_turns: int
    max_tool_calls_per_turn: int
    timeout_s: float


def resolve_limits(limits: Mapping[str, Any], defaults: Defaults) -> Budget:
    """The limits a run will obey, frozen when it is created."""
    return Budget(
        max_turns=limits.get("max_turns") or defaults.max_turns,
        max_tool_calls_per_turn=limits.get("max_tool_calls_per_turn")
        or defaults.max_tool_calls_per_turn,
        max_output_tokens=limits.get("max_output_tokens"),
        timeout_s=limits.get("timeout_s") or defaults.timeout_s,
        max_spend_usd=limits.get("max_spend_usd"),
    )


def check_turn_allowed(turns_done: int, budget: Budget) -> None:
    """Refuse another model call once `max_turns` calls were made."""
    if turns_done >= budget.max_turns:
        raise BudgetExceeded(
            f"the run reached its limit of {budget.max_turns} model turns",
            code=ErrorCode.MAX_TURNS_EXCEEDED,
        )


def check_tool_calls(count: int, budget: Budget) -> None:
    """Refuse a turn that asks for more tool calls than allowed."""
    if count > budget.max_tool_calls_per_turn:
        raise BudgetExceeded(
            f"the model made {count} tool calls in one turn; the limit is "
            f"{budget.max_tool_calls_per_turn}",
            code=ErrorCode.MAX_TOOL_CALLS_EXCEEDED,
        )


def check_output_tokens(total: int, budget: Budget) -> None:
    """Refuse to go on once the run generated more tokens than its budget."""
    if budget.max_output_tokens is not None and total > budget.max_output_tokens:
        raise BudgetExceeded(
            f"the run generated {total} output tokens; the limit is {budget.max_output_tokens}",
            code=ErrorCode.MAX_OUTPUT_TOKENS_EXCEEDED,
        )


SPEND_WARNING_SHARE = 0.8
"""The share of a spend cap past which a run warns (`budget.warning`), once."""


def _warning_due(before_usd: float, after_usd: float, cap: float | None) -> bool:
    if cap is None:
        return False
    threshold = cap * SPEND_WARNING_SHARE
    return before_usd < threshold <= after_usd


def spend_warning_due(before_usd: float, after_usd: float, budget: Budget) -> bool:
    """Whether this turn's cost took the run past `SPEND_WARNING_SHARE` of its cap."""
    return _warning_due(before_usd, after_usd, budget.max_spend_usd)


def check_spend(total_usd: float, budget: Budget) -> None:
    """End the run once it has spent its cap: the next model call could only exceed it more."""
    cap = budget.max_spend_usd
    if cap is not None and total_usd >= cap:
        raise BudgetExceeded(
            f"the run spent ${total_usd:.4f}, reaching its cap of ${cap:.4f} "
            "(limits.max_spend_usd)",
            code=ErrorCode.BUDGET_EXCEEDED,
        )


def check_tree_spend(total_usd: float, cap_usd: float | None) -> None:
    """End a run of a subagent tree once the tree has spent its root's cap."""
    if cap_usd is not None and total_usd >= cap_usd:
        raise BudgetExceeded(
            f"the run's tree of subagents spent ${total_usd:.4f}, reaching its root's cap of "
            f"${cap_usd:.4f} (limits.max_spend_usd)",
            code=ErrorCode.BUDGET_EXCEEDED,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class SessionBudget:
    """A session's spend cap as one of its runs sees it (`max_spend_usd` of the session).

    The session's runs go one at a time, so what the others spent is known when this one starts.
    """

    session_id: str
    cap_usd: float
    spent_before_usd: float
    """What the session's other runs had spent when this one started."""

    def total(self, run_usd: float) -> float:
        """What the session has spent with `run_usd` of this run."""
        return self.spent_before_usd + run_usd


def session_warning_due(before_usd: float, after_usd: float, session: SessionBudget) -> bool:
    """Whether this turn's cost took the session past `SPEND_WARNING_SHARE` of its cap."""
    return _warning_due(session.total(before_usd), session.total(after_usd), session.cap_usd)


def session_spent_out(run_usd: float, session: SessionBudget | None) -> bool:
    """Whether the session has spent its cap, counting `run_usd` of this run."""
    return session is not None and session.total(run_usd) >= session.cap_usd


def check_session_spend(run_usd: float, session: SessionBudget | None) -> None:
    """End a run of a session that has spent its cap (`budget_exceeded`, as the run's own cap)."""
    if session is not None and session_spent_out(run_usd, session):
        raise BudgetExceeded(
            f"the session {session.session_id} spent ${session.total(run_usd):.4f}, reaching its "
            f"cap of ${session.cap_usd:.4f} (max_spend_usd); raise it with PATCH "
            f"/v1/sessions/{session.session_id} to go on",
            code=ErrorCode.BUDGET_EXCEEDED,
        )


def remaining_output_tokens(total: int, budget: Budget) -> int | None:
    """How many tokens the next model call may generate (None: no budget)."""
    if budget.max_output_tokens is None:
        return None
    return max(budget.max_output_tokens - total, 1)


def deadline(started_at: datetime, budget: Budget) -> datetime:
    """When the run times out."""
    return started_at + timedelta(seconds=budget.timeout_s)


CHARS_PER_TOKEN = 4
"""A rough average for English text and code; used only where no provider reported a count."""


def estimate_tokens(characters: int) -> int:
    """Roughly how many tokens `characters` characters of model output took.

    For a call cut short before its provider reported usage: counting something beats
    counting nothing, and rounding up never counts a streamed piece as free.
    """
    return math.ceil(characters / CHARS_PER_TOKEN) if characters > 0 else 0
