from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.domain import budgets, spend_caps
from corral.domain.spend_caps import Period
from corral.errors import BudgetExceeded, InvalidRequest, SpendLimitReached

NOW = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)


def test_periods_are_utc_days_and_months():
    assert Period.DAY.window(NOW) == (
        datetime(2026, 12, 31, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    assert Period.MONTH.window(NOW) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )


def test_the_workspaces_own_caps_replace_the_servers_and_zero_means_none():
    defaults = {Period.DAY: 5.0, Period.MONTH: 100.0}

    server = spend_caps.workspace_caps({}, defaults)
    own = spend_caps.workspace_caps({"spend_per_day_usd": 2.0, "spend_per_month_usd": 0}, defaults)

    assert [(c.field, c.cap_usd) for c in server] == [
        ("limits.spend_per_day_usd", 5.0),
        ("limits.spend_per_month_usd", 100.0),
    ]
    assert [(c.field, c.cap_usd) for c in own] == [("limits.spend_per_day_usd", 2.0)]
    assert spend_caps.workspace_caps({}, {}) == []


def test_a_reached_cap_refuses_and_says_when_it_resets():
    [cap] = spend_caps.agent_caps("agt_1", "triage", {"per_month_usd": 3.0})

    spend_caps.check(cap, 2.99, NOW)
    with pytest.raises(SpendLimitReached) as refused:
        spend_caps.check(cap, 3.0, NOW)

    assert refused.value.http_status == 402
    assert refused.value.field == "agent.spend_limits.per_month_usd"
    assert refused.value.details["resets_at"] == "2027-01-01T00:00:00.000000Z"
    assert "agent 'triage' has spent $3.0000 of its $3.0000 cap per UTC month" in (
        refused.value.message
    )


def test_a_sessions_cap_is_raised_rather_than_reset():
    cap = spend_caps.session_cap("ses_1", 1.0)
    assert cap is not None and spend_caps.session_cap("ses_1", None) is None

    with pytest.raises(SpendLimitReached) as refused:
        spend_caps.check(cap, 1.5, NOW)
    with pytest.raises(InvalidRequest) as unpriced:
        spend_caps.check_priced(cap, "local/llama", priced=False)

    assert (refused.value.field, refused.value.details["resets_at"]) == ("max_spend_usd", None)
    assert "PATCH /v1/sessions/ses_1" in refused.value.message
    assert (unpriced.value.code, unpriced.value.field) == ("model_not_priced", "max_spend_usd")


def test_a_session_budget_counts_the_sessions_other_runs():
    session = budgets.SessionBudget(session_id="ses_1", cap_usd=1.0, spent_before_usd=0.5)

    assert budgets.session_warning_due(0.2, 0.35, session)  # 0.70 → 0.85 crosses 80 %
    assert not budgets.session_warning_due(0.35, 0.4, session)
    assert not budgets.session_spent_out(0.49, session)
    budgets.check_session_spend(0.49, session)
    budgets.check_session_spend(5.0, None)
    with pytest.raises(BudgetExceeded) as ended:
        budgets.check_session_spend(0.5, session)

    assert ended.value.code == "budget_exceeded"
    assert "session ses_1" in ended.value.message
