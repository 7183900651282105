from __future__ import annotations

import asyncio

from tests.helpers import assert_error, submit, wait


async def test_a_retried_agent_create_returns_the_same_agent(client):
    body = {"name": "retried", "model": "test"}
    headers = {"Idempotency-Key": "agent-1"}

    first = await client.post("/v1/agents", json=body, headers=headers)
    again = await client.post("/v1/agents", json=body, headers=headers)
    other = await client.post("/v1/agents", json={**body, "name": "other"}, headers=headers)

    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json() == first.json()
    assert_error(other, 409, "idempotency_conflict", "Idempotency-Key")
    assert len((await client.get("/v1/agents")).json()["data"]) == 1


async def test_a_retried_session_create_returns_the_same_session(client):
    body = {"agent_spec": {"model": "test"}}
    headers = {"Idempotency-Key": "session-1"}

    first = await client.post("/v1/sessions", json=body, headers=headers)
    again = await client.post("/v1/sessions", json=body, headers=headers)

    assert first.json()["id"] == again.json()["id"]
    assert len((await client.get("/v1/sessions")).json()["data"]) == 1


async def test_a_retried_tool_result_is_accepted_again_instead_of_refused(client):
    tool = {"type": "client", "name": "noop", "parameters": {"type": "object"}}
    run = await submit(client, "go", tools=[tool])
    for _ in range(200):
        current = (await client.get(f"/v1/runs/{run['id']}")).json()
        if current["status"] == "waiting":
            break
        await asyncio.sleep(0.02)
    call_id = current["pending_tool_calls"][0]["call_id"]
    url, body = f"/v1/runs/{run['id']}/tool-results", {"call_id": call_id, "output": "ok"}

    first = await client.post(url, json=body, headers={"Idempotency-Key": "result-1"})
    retried = await client.post(url, json=body, headers={"Idempotency-Key": "result-1"})
    without_key = await client.post(url, json=body)

    assert (first.status_code, retried.status_code) == (200, 200)
    assert retried.json() == first.json()
    assert without_key.status_code in (404, 409)
    assert (await wait(client, run["id"]))["status"] == "completed"


async def test_a_request_that_failed_can_be_sent_again_with_the_same_key(client):
    headers = {"Idempotency-Key": "agent-bad"}

    failed = await client.post("/v1/agents", json={"name": "x", "model": "nope"}, headers=headers)
    fixed = await client.post("/v1/agents", json={"name": "x", "model": "test"}, headers=headers)

    assert_error(failed, 400, "invalid_model")
    assert fixed.status_code == 201
