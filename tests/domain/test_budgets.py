from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.domain import budgets
from corral.domain.budgets import Budget, Defaults
from corral.errors import BudgetExceeded

BUDGET = Budget(max_turns=3, max_tool_calls_per_turn=2, max_output_tokens=100, timeout_s=60)


@pytest.mark.parametrize(
    ("turns", "allowed"), [(0, True), (2, True), (3, False), (7, False)], ids=str
)
def test_a_model_call_is_allowed_only_below_max_turns(turns, allowed):
    if allowed:
        budgets.check_turn_allowed(turns, BUDGET)
    else:
        with pytest.raises(BudgetExceeded) as raised:
            budgets.check_turn_allowed(turns, BUDGET)
        assert raised.value.code == "max_turns_exceeded"


@pytest.mark.parametrize(("calls", "allowed"), [(1, True), (2, True), (3, False)], ids=str)
def test_tool_calls_per_turn_are_bounded(calls, allowed):
    if allowed:
        budgets.check_tool_calls(calls, BUDGET)
    else:
        with pytest.raises(BudgetExceeded, match="limit is 2"):
            budgets.check_tool_calls(calls, BUDGET)


def test_output_tokens_over_budget_end_the_run_and_none_means_unbounded():
    budgets.check_output_tokens(100, BUDGET)
    with pytest.raises(BudgetExceeded) as raised:
        budgets.check_output_tokens(101, BUDGET)
    assert raised.value.code == "max_output_tokens_exceeded"
    unbounded = Budget(max_turns=1, max_tool_calls_per_turn=1, max_output_tokens=None, timeout_s=1)
    budgets.check_output_tokens(10**9, unbounded)


@pytest.mark.parametrize(("used", "remaining"), [(0, 100), (60, 40), (100, 1), (250, 1)], ids=str)
def test_the_next_call_may_generate_what_is_left_of_the_budget(used, remaining):
    assert budgets.remaining_output_tokens(used, BUDGET) == remaining


def test_unset_limits_take_the_defaults_and_set_ones_are_kept():
    defaults = Defaults(max_turns=32, max_tool_calls_per_turn=16, timeout_s=3600)

    resolved = budgets.resolve_limits({"max_turns": 4, "max_output_tokens": 50}, defaults)

    assert resolved.to_json() == {
        "max_turns": 4,
        "max_tool_calls_per_turn": 16,
        "max_output_tokens": 50,
        "timeout_s": 3600,
    }


def test_the_deadline_counts_from_the_start_of_the_run():
    started = datetime(2026, 1, 1, tzinfo=UTC)
    assert budgets.deadline(started, BUDGET) == started + timedelta(seconds=60)


@pytest.mark.parametrize(("characters", "tokens"), [(0, 0), (1, 1), (4, 1), (5, 2), (400, 100)])
def test_unreported_output_is_estimated_at_four_characters_a_token_rounded_up(characters, tokens):
    assert budgets.estimate_tokens(characters) == tokens


def test_a_spend_cap_warns_once_past_80_percent_and_stops_the_run_at_the_cap():
    budget = budgets.resolve_limits(
        {"max_spend_usd": 1.0}, Defaults(max_turns=32, max_tool_calls_per_turn=16, timeout_s=60)
    )

    assert budget.to_json()["max_spend_usd"] == 1.0
    assert budgets.Budget.from_json(budget.to_json()) == budget
    assert not budgets.spend_warning_due(0.0, 0.79, budget)
    assert budgets.spend_warning_due(0.79, 0.8, budget)
    assert not budgets.spend_warning_due(0.8, 0.9, budget)  # once
    budgets.check_spend(0.99, budget)
    with pytest.raises(BudgetExceeded) as raised:
        budgets.check_spend(1.0, budget)
    assert raised.value.code == "budget_exceeded"
