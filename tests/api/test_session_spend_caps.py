"""A session's spend cap, over all its runs.

Its runs warn at 80 %, the run that reaches it stops, the session stops taking messages (402)
with a stop reason, and raising the cap lets it go on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, events, wait

WEATHER = {
    "type": "client",
    "name": "get_weather",
    "description": "Current weather of a city",
    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
}


@pytest.fixture
async def priced(make_settings, priced_catalog) -> AsyncIterator[httpx.AsyncClient]:
    """A server whose `test` model costs $10 per million output tokens (input is free)."""
    async with (
        running_app(make_settings(model_catalog=priced_catalog)) as app,
        api_client(app) as c,
    ):
        yield c


async def open_session(client: httpx.AsyncClient, cap_usd: float | None) -> dict:
    body: dict = {"agent_spec": {"model": "test"}}
    if cap_usd is not None:
        body["max_spend_usd"] = cap_usd
    response = await client.post("/v1/sessions", json=body)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def send(client: httpx.AsyncClient, session_id: str, text: str, **body) -> httpx.Response:
    return await client.post(f"/v1/sessions/{session_id}/messages", json={"input": text, **body})


async def test_a_session_at_its_cap_stops_its_run_and_takes_no_more_messages_until_raised(priced):
    session = await open_session(priced, 1.0)
    sid = session["id"]

    # $0.50, then a turn of $0.60 that calls a tool: the session is at $1.10, over its $1 cap.
    first = await wait(priced, (await send(priced, sid, "[[tokens 10 50000]] one")).json()["id"])
    cut = await send(priced, sid, "[[tokens 10 60000]] [[call get_weather]]", tools=[WEATHER])
    cut_off = await wait(priced, cut.json()["id"])
    logged = await events(priced, cut_off["id"])
    stopped = (await priced.get(f"/v1/sessions/{sid}")).json()
    refused = await send(priced, sid, "three")

    assert session["max_spend_usd"] == 1.0 and session["stop_reason"] is None
    assert first["status"] == "completed"
    assert cut_off["status"] == "failed"
    assert cut_off["error"]["code"] == "budget_exceeded"
    assert f"session {sid}" in cut_off["error"]["message"]
    assert cut_off["pending_tool_calls"] == []  # stopped before the tool was asked for
    warnings = [e for e in logged if e["type"] == "budget.warning"]
    assert [(w["scope"], w["cap_usd"]) for w in warnings] == [("session", 1.0)]
    assert warnings[0]["used_usd"] == pytest.approx(1.1)
    [notice] = [e for e in logged if e["type"] == "session.stopped"]
    assert notice["session_id"] == sid
    assert notice["stop_reason"]["type"] == "budget_exceeded"
    assert [e["type"] for e in logged][-2:] == ["session.stopped", "run.failed"]
    assert stopped["status"] == "idle"
    assert stopped["stop_reason"]["type"] == "budget_exceeded"
    assert stopped["stop_reason"]["spent_usd"] == pytest.approx(1.1)
    assert stopped["stop_reason"]["max_spend_usd"] == 1.0
    assert_error(refused, 402, "spend_limit_reached", "max_spend_usd")
    assert "PATCH /v1/sessions/" in refused.json()["message"]
    assert refused.json()["cap_usd"] == 1.0

    raised = await priced.patch(f"/v1/sessions/{sid}", json={"max_spend_usd": 5.0})
    accepted = await send(priced, sid, "three")
    third = await wait(priced, accepted.json()["id"])
    audited = (await priced.get("/v1/audit", params={"action": "session.limits_changed"})).json()

    assert [(e["target_id"], e["details"]) for e in audited["data"]] == [
        (sid, {"max_spend_usd": 5.0})
    ]
    assert raised.status_code == 200, raised.text
    assert raised.json()["max_spend_usd"] == 5.0
    assert raised.json()["stop_reason"] is None
    assert accepted.status_code == 202
    assert third["status"] == "completed"


async def test_an_answer_that_reaches_the_cap_is_kept_and_the_session_stops_after_it(priced):
    sid = (await open_session(priced, 1.0))["id"]

    answered = await wait(priced, (await send(priced, sid, "[[tokens 10 100000]] hi")).json()["id"])
    session = (await priced.get(f"/v1/sessions/{sid}")).json()
    refused = await send(priced, sid, "again")
    uncapped = await priced.patch(f"/v1/sessions/{sid}", json={"max_spend_usd": None})

    assert answered["status"] == "completed"
    assert [m["role"] for m in session["messages"]] == ["user", "assistant"]
    assert session["stop_reason"]["type"] == "budget_exceeded"
    assert_error(refused, 402, "spend_limit_reached", "max_spend_usd")
    assert uncapped.json()["max_spend_usd"] is None
    assert uncapped.json()["stop_reason"] is None
    assert (await send(priced, sid, "again")).status_code == 202


async def test_messages_queued_behind_the_run_that_spent_the_cap_stop_before_calling_the_model(
    priced,
):
    sid = (await open_session(priced, 1.0))["id"]

    runs = [
        (await send(priced, sid, text)).json()
        for text in ("[[delay 200ms]] [[tokens 10 100000]] one", "[[tokens 10 1000]] two")
    ]
    first, second = [await wait(priced, run["id"]) for run in runs]

    assert first["status"] == "completed"
    assert (second["status"], second["error"]["code"]) == ("failed", "budget_exceeded")
    assert second["usage"]["cost_usd"] == 0


async def test_a_session_cap_needs_a_priced_model_and_an_open_session(client):
    unpriced = await client.post(
        "/v1/sessions", json={"agent_spec": {"model": "test"}, "max_spend_usd": 1.0}
    )
    session = await open_session(client, None)
    patched = await client.patch(f"/v1/sessions/{session['id']}", json={"max_spend_usd": 2.0})
    negative = await client.patch(f"/v1/sessions/{session['id']}", json={"max_spend_usd": -1})
    await client.delete(f"/v1/sessions/{session['id']}")
    ended = await client.patch(f"/v1/sessions/{session['id']}", json={})

    assert_error(unpriced, 400, "model_not_priced", "/max_spend_usd")
    assert_error(patched, 400, "model_not_priced", "/max_spend_usd")
    assert_error(negative, 400, "invalid_request", "/max_spend_usd")
    assert_error(ended, 409, "session_ended")
