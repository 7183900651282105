"""A routine tells outbound webhooks when a fire starts its run and when it is paused."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.conftest import api_client, running_app
from tests.helpers import wait
from tests.webhook_receiver import verified


@pytest.fixture
async def api(make_settings: Callable[..., Any]) -> AsyncIterator[Any]:
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with running_app(settings) as app, api_client(app) as client:
        await client.post("/v1/agents", json={"name": "echo", "model": "test"})
        yield client


async def test_a_fire_and_a_pause_reach_the_endpoint_signed(api, receiver):
    endpoint = (
        await api.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["routine.fired", "routine.paused"]},
        )
    ).json()
    routine = (
        await api.post("/v1/routines", json={"name": "nightly", "agent": "echo", "input": "hi"})
    ).json()
    fire = (await api.post(f"/v1/routines/{routine['id']}/run")).json()
    await wait(api, fire["run_id"])
    await api.delete("/v1/agents/echo")
    failed = (await api.post(f"/v1/routines/{routine['id']}/run")).json()
    assert failed["status"] == "failed"
    await receiver.until(2)

    messages = [verified(endpoint["secret"], headers, body) for headers, body in receiver.received]
    by_type = {message["type"]: message["data"] for message in messages}
    assert sorted(by_type) == ["routine.fired", "routine.paused"]
    assert by_type["routine.fired"]["fire_id"] == fire["id"]
    assert by_type["routine.fired"]["run_id"] == fire["run_id"]
    assert by_type["routine.fired"]["trigger"] == "manual"
    assert by_type["routine.paused"]["routine_id"] == routine["id"]
    assert by_type["routine.paused"]["code"] == "not_found"
    deliveries = (await api.get(f"/v1/webhooks/{endpoint['id']}/deliveries")).json()["data"]
    assert {d["event_type"]: d["run_id"] for d in deliveries} == {
        "routine.fired": None,
        "routine.paused": None,
    }
    assert {headers["webhook-id"] for headers, _ in receiver.received} == {
        d["message_id"] for d in deliveries
    }
