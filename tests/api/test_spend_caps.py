"""A run's spend cap: a warning at 80 %, `budget_exceeded` at the cap, and no cap without prices."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, events, submit, wait

OUTPUT_PRICE = 10.0
"""Dollars per million output tokens of the priced `test` model below (input is free)."""


@pytest.fixture
async def priced(make_settings, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n"
        "  - {id: test, provider: corral, api: test, context_window: 1000000,\n"
        f"     pricing: {{input: 0.0, output: {OUTPUT_PRICE}}}}}\n"
    )
    async with running_app(make_settings(model_catalog=catalog)) as app, api_client(app) as c:
        yield c


def capped(cap_usd: float) -> dict:
    return {"model": "test", "limits": {"max_spend_usd": cap_usd}}


async def test_a_run_that_spends_its_cap_warns_then_fails_with_budget_exceeded(priced):
    # One call of 100,000 output tokens costs $1.00, the whole cap.
    run = await submit(priced, "[[tokens 10 100000]] hi", agent_spec=capped(1.0))
    ended = await wait(priced, run["id"])
    logged = await events(priced, run["id"])

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "budget_exceeded"
    assert "cap of $1.0000" in ended["error"]["message"]
    assert ended["usage"]["cost_usd"] == pytest.approx(1.0)
    warnings = [e for e in logged if e["type"] == "budget.warning"]
    assert [(w["limit"], w["cap_usd"]) for w in warnings] == [("max_spend_usd", 1.0)]
    assert warnings[0]["used_usd"] == pytest.approx(1.0)


async def test_a_run_under_its_cap_completes_without_a_warning(priced):
    run = await submit(priced, "[[tokens 10 1000]] hi", agent_spec=capped(1.0))  # $0.01
    ended = await wait(priced, run["id"])

    assert ended["status"] == "completed"
    assert "budget.warning" not in [e["type"] for e in await events(priced, run["id"])]


async def test_a_cap_on_a_model_without_a_price_is_refused(client):
    response = await client.post("/v1/runs", json={"input": "hi", "agent_spec": capped(1.0)})
    agent = await client.post("/v1/agents", json={"name": "capped", **capped(1.0)})

    assert_error(response, 400, "model_not_priced", "/agent_spec/limits/max_spend_usd")
    assert_error(agent, 400, "model_not_priced", "/limits/max_spend_usd")
    assert_error(
        await client.post("/v1/runs", json={"input": "hi", "agent_spec": capped(-1)}),
        400,
        "invalid_request",
        "/agent_spec/limits/max_spend_usd",
    )
