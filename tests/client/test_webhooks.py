"""`client.webhooks`: an endpoint's life, and the deliveries a receiver on 127.0.0.1 gets.

Delivering to 127.0.0.1 needs the operator's leave (`network_private_hosts`), so the delivery
test runs a server of its own on each backend; the others share the package's server.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
import pytest_asyncio

from corral.client import (
    Delivery,
    InvalidRequestError,
    NotFoundError,
    Webhook,
    WebhookCreated,
    WebhookSecret,
)
from corral.client.resources.webhooks import AsyncWebhooks, Webhooks
from corral.settings import Settings
from tests.client.conftest import Awaited, awaited_client, drain
from tests.client.test_client import public_methods, shape
from tests.conftest import ADMIN_KEY, BACKENDS, LiveServer
from tests.webhook_receiver import Receiver, verified


def test_the_sync_and_async_resources_have_the_same_methods_and_parameters():
    sync_methods, async_methods = public_methods(Webhooks), public_methods(AsyncWebhooks)

    assert sync_methods.keys() == async_methods.keys()
    for name, signature in sync_methods.items():
        assert shape(signature) == shape(async_methods[name]), name


@pytest_asyncio.fixture(loop_scope="package")
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    await found.start()
    yield found
    await found.stop()


async def settled(sdk: Awaited, webhook_id: str, done: Callable[[Delivery], bool]) -> Delivery:
    """The endpoint's one delivery once `done` holds for it."""
    for _ in range(200):
        found = await sdk.webhooks.deliveries(webhook_id)
        if found and done(found[0]):
            return found[0]
        await asyncio.sleep(0.05)
    raise AssertionError(f"the delivery did not settle: {found}")


@pytest.mark.parametrize("backend", BACKENDS, indirect=True)
async def test_a_run_s_end_is_delivered_and_resent_under_the_same_id(
    flavour: str, make_settings: Callable[..., Settings], receiver: Receiver
) -> None:
    settings = make_settings(network_private_hosts=["127.0.0.1"], poll_interval_s=0.1)
    async with (
        LiveServer(settings) as server,
        awaited_client(flavour, server.base_url, api_key=ADMIN_KEY) as sdk,
    ):
        created = await sdk.webhooks.create(
            url=receiver.url, event_types=["run.completed", "run.failed"], description="CI"
        )
        run = await sdk.run(model="test", input="hello")
        await receiver.until(1)
        delivered = await settled(sdk, created.id, lambda d: d.status == "delivered")
        resent = await sdk.webhooks.resend(created.id, delivered.message_id)
        await receiver.until(2)
        limited = await sdk.webhooks.deliveries(created.id, limit=1)
        secret = await sdk.webhooks.secret(created.id)
        await sdk.webhooks.delete(created.id)
        with pytest.raises(NotFoundError) as gone:
            await sdk.webhooks.retrieve(created.id)

    assert isinstance(created, WebhookCreated) and created.secret.startswith("whsec_")
    assert isinstance(secret, WebhookSecret) and secret.secret == created.secret
    first, second = receiver.received
    message = verified(created.secret, *first)
    assert (message["type"], message["data"]["run_id"]) == ("run.completed", run.id)
    assert first[0]["webhook-id"] == second[0]["webhook-id"] == delivered.message_id
    assert isinstance(delivered, Delivery)
    assert (delivered.run_id, delivered.event_type, delivered.attempts) == (
        run.id,
        "run.completed",
        1,
    )
    assert delivered.last_status_code == 204 and delivered.delivered_at is not None
    assert resent.message_id == delivered.message_id
    assert [d.message_id for d in limited] == [delivered.message_id]
    assert gone.value.code == "not_found"


async def test_an_endpoint_is_created_listed_updated_disabled_and_enabled(sdk: Awaited) -> None:
    created = await sdk.webhooks.create(url="https://example.com/hook", event_types=["run.failed"])
    listed = await drain(await sdk.webhooks.list())
    described = await sdk.webhooks.update(created.id, description="alerts")
    disabled = await sdk.webhooks.update(created.id, enabled=False)
    retyped = await sdk.webhooks.update(
        created.id, url="https://example.com/v2", event_types=("run.failed", "run.timed_out")
    )
    enabled = await sdk.webhooks.update(created.id, enabled=True)
    retrieved = await sdk.webhooks.retrieve(created.id)

    assert created.id.startswith("whk_") and created.description == ""
    assert [(type(w), w.id, w.enabled) for w in listed] == [(Webhook, created.id, True)]
    assert "secret" not in listed[0].model_dump()
    assert (described.description, described.event_types) == ("alerts", ["run.failed"])
    assert (disabled.enabled, disabled.description) == (False, "alerts")
    assert disabled.disabled_at is not None
    assert (retyped.url, retyped.event_types, retyped.enabled) == (
        "https://example.com/v2",
        ["run.failed", "run.timed_out"],
        False,
    )
    assert (enabled.enabled, enabled.disabled_at, enabled.disabled_reason) == (True, None, None)
    assert retrieved == enabled
    assert await sdk.webhooks.deliveries(created.id) == []


async def test_refusals_name_the_field(sdk: Awaited) -> None:
    refused: list[Any] = []
    for url, types in [
        ("http://127.0.0.1:9/hook", ["run.completed"]),
        ("ftp://example.com", ["run.completed"]),
        ("https://example.com", ["message.delta"]),
    ]:
        with pytest.raises(InvalidRequestError) as error:
            await sdk.webhooks.create(url=url, event_types=types)
        refused.append(error.value)
    with pytest.raises(NotFoundError) as missing:
        await sdk.webhooks.resend("whk_nope", "msg_nope")

    assert [e.field for e in refused] == ["/url", "/url", "/event_types/0"]
    assert "cannot receive webhooks" in refused[0].message
    assert missing.value.code == "not_found"
