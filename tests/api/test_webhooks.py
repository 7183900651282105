"""Outbound webhooks: a receiver this test runs gets each wanted event, signed, once.

It gets it again under the same id when it was down and the delivery is resent; private
addresses are refused.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import orjson
import pytest

from tests.conftest import api_client, running_app
from tests.helpers import assert_error, submit, wait
from tests.webhook_receiver import verified


@pytest.fixture
async def hooks(make_settings: Callable[..., Any]) -> AsyncIterator[Any]:
    """A client of a server that may deliver to 127.0.0.1 (the operator lists it)."""
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with running_app(settings) as app, api_client(app) as client:
        yield client


async def register(client: Any, url: str, *types: str) -> dict[str, Any]:
    response = await client.post(
        "/v1/webhooks", json={"url": url, "event_types": list(types or ["run.completed"])}
    )
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_a_run_s_end_reaches_the_endpoint_signed_and_once(hooks, receiver):
    created = await register(hooks, receiver.url, "run.completed", "run.failed")
    assert created["secret"].startswith("whsec_")
    listed = (await hooks.get("/v1/webhooks")).json()["data"]
    assert [(w["id"], w["enabled"], w["event_types"]) for w in listed] == [
        (created["id"], True, ["run.completed", "run.failed"])
    ]

    run = await submit(hooks, "hello")
    await wait(hooks, run["id"])
    await receiver.until(1)
    await asyncio.sleep(0.3)  # nothing else comes

    [(headers, body)] = receiver.received
    message = verified(created["secret"], headers, body)
    assert message["type"] == "run.completed"
    assert (message["data"]["run_id"], message["data"]["output"]) == (run["id"], "hello")
    [delivery] = (await hooks.get(f"/v1/webhooks/{created['id']}/deliveries")).json()["data"]
    assert delivery["message_id"] == headers["webhook-id"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        1,
        204,
    )
    secret = (await hooks.get(f"/v1/webhooks/{created['id']}/secret")).json()["secret"]
    assert secret == created["secret"]


async def test_events_the_endpoint_did_not_ask_for_are_not_sent(hooks, receiver):
    await register(hooks, receiver.url, "run.failed")
    run = await submit(hooks, "fine")
    await wait(hooks, run["id"])
    failing = await submit(hooks, "[[fail provider_error down]]")
    await wait(hooks, failing["id"])
    await receiver.until(1)
    await asyncio.sleep(0.3)

    assert [orjson.loads(body)["data"]["run_id"] for _, body in receiver.received] == [
        failing["id"]
    ]


async def test_a_receiver_that_was_down_gets_the_delivery_when_it_is_resent(hooks, receiver):
    created = await register(hooks, receiver.url)
    receiver.status = 503
    run = await submit(hooks, "hello")
    await wait(hooks, run["id"])
    await receiver.until(1)
    url = f"/v1/webhooks/{created['id']}/deliveries"
    for _ in range(100):
        [pending] = (await hooks.get(url)).json()["data"]
        if pending["last_status_code"] == 503:
            break
        await asyncio.sleep(0.05)
    assert (pending["status"], pending["attempts"]) == ("pending", 1)
    assert pending["next_attempt_at"] is not None  # retried later, on the schedule

    await hooks.patch(f"/v1/webhooks/{created['id']}", json={"enabled": False})
    refused = await hooks.post(f"{url}/{pending['message_id']}/resend")
    assert_error(refused, 409, "conflict")
    await hooks.patch(f"/v1/webhooks/{created['id']}", json={"enabled": True})

    receiver.status = 200
    resent = await hooks.post(f"{url}/{pending['message_id']}/resend")
    assert resent.status_code == 200, resent.text
    await receiver.until(2)
    first, second = receiver.received
    assert first[0]["webhook-id"] == second[0]["webhook-id"]
    for _ in range(100):
        [delivery] = (await hooks.get(url)).json()["data"]
        if delivery["status"] == "delivered":
            break
        await asyncio.sleep(0.05)
    assert delivery["status"] == "delivered"


async def test_a_private_address_is_refused_unless_the_operator_lists_it(client):
    for url in ("http://127.0.0.1:9/hook", "http://169.254.169.254/latest", "http://[::1]/x"):
        refused = await client.post(
            "/v1/webhooks", json={"url": url, "event_types": ["run.completed"]}
        )
        assert_error(refused, 400, "invalid_request", "/url")

    # A name is vetted when the sender connects: the attempt fails, and nothing is sent.
    created = await register(client, "http://localhost:9/hook")
    run = await submit(client, "hello")
    await wait(client, run["id"])
    deliveries = f"/v1/webhooks/{created['id']}/deliveries"
    for _ in range(200):
        found = (await client.get(deliveries)).json()["data"]
        if found and found[0]["last_error"]:
            break
        await asyncio.sleep(0.05)
    assert "loopback" in found[0]["last_error"], found
    assert found[0]["last_status_code"] is None


async def test_bad_webhook_requests_name_their_field(client):
    assert_error(
        await client.post(
            "/v1/webhooks", json={"url": "ftp://x", "event_types": ["run.completed"]}
        ),
        400,
        "invalid_request",
    )
    assert_error(
        await client.post(
            "/v1/webhooks", json={"url": "https://example.com", "event_types": ["message.delta"]}
        ),
        400,
        "invalid_request",
    )
    assert_error(await client.get("/v1/webhooks/whk_nope"), 404, "not_found")
