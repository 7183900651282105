"""Spend caps per UTC day and month, of a workspace and of a stored agent.

Once reached, a submit answers 402 `spend_limit_reached`; a spend that cannot be read refuses it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from corral.errors import Unavailable
from corral.process import build_context
from corral.services import spend_caps
from corral.services.context import Principal
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit, wait

OPERATOR_KEY = "crl_operator_spend_test_key"
PRICED = {"model": "test"}


@pytest.fixture
def priced_settings(make_settings, priced_catalog):
    """Settings whose `test` model costs $10 per million output tokens (input is free)."""

    def make(**overrides: Any):
        return make_settings(model_catalog=priced_catalog, operator_key=OPERATOR_KEY, **overrides)

    return make


@pytest.fixture
async def server(priced_settings) -> AsyncIterator[Any]:
    async with running_app(priced_settings()) as app:
        yield app


async def set_workspace_limits(app: Any, **limits: float) -> None:
    async with api_client(app, key=OPERATOR_KEY) as operator:
        response = await operator.patch("/v1/workspaces/default", json={"limits": limits})
    assert response.status_code == 200, response.text


async def spend(client: httpx.AsyncClient, usd: float, **body: Any) -> dict:
    """A run that spends `usd` (one call of output tokens at $10 per million)."""
    tokens = round(usd * 100_000)
    run = await wait(client, (await submit(client, f"[[tokens 10 {tokens}]] hi", **body))["id"])
    assert run["status"] == "completed", run
    return run


async def test_a_workspace_at_its_daily_cap_gets_402_for_new_runs_and_messages(server):
    async with api_client(server) as client:
        session = (await client.post("/v1/sessions", json={"agent_spec": PRICED})).json()
        await set_workspace_limits(server, spend_per_day_usd=1.0)
        # One run may take the workspace past its cap: runs already going are not cut off.
        first = await spend(client, 1.5)
        refused = await client.post("/v1/runs", json={"input": "hi", "agent_spec": PRICED})
        message = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "x"})
        await client.delete(f"/v1/runs/{first['id']}")
        after_delete = await client.post("/v1/runs", json={"input": "hi", "agent_spec": PRICED})
        me = (await client.get("/v1/whoami")).json()
        await set_workspace_limits(server, spend_per_day_usd=0)  # 0: no cap
        uncapped = await client.post("/v1/runs", json={"input": "hi", "agent_spec": PRICED})

    tomorrow = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT00:00:00")
    assert_error(refused, 402, "spend_limit_reached", "limits.spend_per_day_usd")
    body = refused.json()
    assert "$1.5000 of its $1.0000 cap per UTC day" in body["message"]
    assert body["resets_at"].startswith(tomorrow)
    assert (body["cap_usd"], body["spent_usd"]) == (1.0, pytest.approx(1.5))
    assert_error(message, 402, "spend_limit_reached", "limits.spend_per_day_usd")
    # Deleting a run does not give its spend back.
    assert_error(after_delete, 402, "spend_limit_reached", "limits.spend_per_day_usd")
    [day] = me["limits"]["spend"]
    assert (day["field"], day["period"], day["cap_usd"]) == ("limits.spend_per_day_usd", "day", 1.0)
    assert (day["spent_usd"], day["remaining_usd"]) == (pytest.approx(1.5), 0)
    assert day["resets_at"].startswith(tomorrow)
    assert uncapped.status_code == 202


async def test_whoami_shows_the_servers_caps_and_what_is_left(priced_settings):
    settings = priced_settings(workspace_spend_per_month_usd=10.0)
    async with running_app(settings) as app, api_client(app) as client:
        before = (await client.get("/v1/whoami")).json()["limits"]["spend"]
        await spend(client, 0.25)
        after = (await client.get("/v1/whoami")).json()["limits"]["spend"]

    assert [(s["field"], s["spent_usd"], s["remaining_usd"]) for s in before] == [
        ("limits.spend_per_month_usd", 0, 10.0)
    ]
    assert [(s["spent_usd"], s["remaining_usd"]) for s in after] == [
        (pytest.approx(0.25), pytest.approx(9.75))
    ]
    assert after[0]["resets_at"].endswith("-01T00:00:00Z")


async def test_an_agent_at_its_monthly_cap_gets_402_while_others_still_run(server):
    async with api_client(server) as client:
        created = await client.post(
            "/v1/agents",
            json={"name": "capped", **PRICED, "spend_limits": {"per_month_usd": 0.5}},
        )
        await spend(client, 0.75, agent="capped")
        refused = await client.post("/v1/runs", json={"input": "hi", "agent": "capped"})
        pinned = await client.post(
            "/v1/runs", json={"input": "hi", "agent": "capped", "agent_version": 1}
        )
        session = (await client.post("/v1/sessions", json={"agent": "capped"})).json()
        message = await client.post(f"/v1/sessions/{session['id']}/messages", json={"input": "x"})
        other = await client.post("/v1/runs", json={"input": "hi", "agent_spec": PRICED})
        raised = await client.patch(
            "/v1/agents/capped", json={"spend_limits": {"per_month_usd": 5.0}}
        )
        accepted = await client.post("/v1/runs", json={"input": "hi", "agent": "capped"})

    assert created.json()["spend_limits"] == {"per_day_usd": None, "per_month_usd": 0.5}
    assert_error(refused, 402, "spend_limit_reached", "agent.spend_limits.per_month_usd")
    assert "agent 'capped'" in refused.json()["message"]
    assert "per UTC month" in refused.json()["message"]
    assert_error(pinned, 402, "spend_limit_reached", "agent.spend_limits.per_month_usd")
    assert_error(message, 402, "spend_limit_reached", "agent.spend_limits.per_month_usd")
    assert other.status_code == 202
    assert raised.json()["version"] == 2
    assert accepted.status_code == 202


async def test_a_period_cap_refuses_models_without_a_price(make_settings):
    settings = make_settings(workspace_spend_per_month_usd=10.0)
    async with running_app(settings) as app, api_client(app) as client:
        run = await client.post("/v1/runs", json={"input": "hi", "agent_spec": {"model": "test"}})
        agent = await client.post(
            "/v1/agents",
            json={"name": "a", "model": "test", "spend_limits": {"per_day_usd": 1.0}},
        )

    assert_error(run, 400, "model_not_priced", "limits.spend_per_month_usd")
    assert_error(agent, 400, "model_not_priced", "/spend_limits/per_day_usd")


async def test_agent_caps_belong_to_stored_agents(server):
    async with api_client(server) as client:
        inline = await client.post(
            "/v1/runs",
            json={"input": "hi", "agent_spec": {**PRICED, "spend_limits": {"per_day_usd": 1}}},
        )

    assert_error(inline, 400, "invalid_request", "/agent_spec/spend_limits")


def principal(**limits: float) -> Principal:
    return Principal(
        workspace_id="ws_x",
        workspace_name="x",
        key_id="key_x",
        key_name="x",
        scopes=["admin"],
        limits=limits,
    )


async def test_a_submit_is_refused_when_the_spend_cannot_be_read(settings):
    ctx = build_context(settings)  # its database never connected: every read is Unavailable

    with pytest.raises(Unavailable) as refused:
        await spend_caps.check_submit(
            ctx, principal(spend_per_day_usd=5.0), model="test", agent_id=None
        )
    with pytest.raises(Unavailable):
        await spend_caps.check_submit(ctx, principal(), model="test", agent_id="agt_x")
    # Without a cap to check, nothing is read.
    await spend_caps.check_submit(ctx, principal(), model="test", agent_id=None)

    assert (refused.value.http_status, refused.value.code) == (503, "unavailable")
    assert refused.value.field == "limits.spend_per_day_usd"
    assert "spend caps" in refused.value.message


async def test_the_mantyx_facade_keeps_the_same_caps(server):
    base = "/api/v1/workspaces/default"
    async with api_client(server) as client:
        await client.post(
            "/v1/agents", json={"name": "capped", **PRICED, "spend_limits": {"per_day_usd": 0.5}}
        )
        copied = await client.post(
            f"{base}/agent-runs",
            json={"agentId": "capped", "prompt": "hi", "budgets": {"maxToolTurns": 2}},
        )
        await spend(client, 0.75, agent="capped")
        refused = await client.post(f"{base}/agent-runs", json={"agentId": "capped", "prompt": "x"})

    assert_error(copied, 400, "invalid_request", "/agentId")
    assert_error(refused, 402, "spend_limit_reached", "agent.spend_limits.per_day_usd")
    assert refused.json()["code"] == "spend_limit_reached"
