from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import asyncpg
import pytest

from corral.pubsub.base import Broker
from corral.pubsub.memory import MemoryBroker
from corral.pubsub.postgres import PostgresBroker
from corral.pubsub.redis import RedisBroker
from tests.conftest import PG_URL, REDIS_URL

Factory = Callable[[], Broker]

KINDS = [
    pytest.param("postgres", marks=pytest.mark.postgres),
    pytest.param("redis", marks=pytest.mark.redis),
]


def factory(kind: str) -> Factory:
    if kind == "postgres":
        return lambda: PostgresBroker(PG_URL)
    return lambda: RedisBroker(REDIS_URL)


@pytest.fixture(params=KINDS)
async def pair(request) -> AsyncIterator[tuple[Broker, Broker]]:
    """Two brokers of the same kind, as two processes would hold them."""
    make = factory(request.param)
    first, second = make(), make()
    await first.start()
    await second.start()
    try:
        yield first, second
    finally:
        await first.close()
        await second.close()


async def test_the_memory_broker_wakes_local_subscribers_of_the_channel_only():
    broker = MemoryBroker()
    with broker.subscribe("a") as a, broker.subscribe("b") as b:
        await broker.publish("a", "1")
        await broker.publish("a", "2")

        assert await a.wait(1) == ["1", "2"]
        assert await b.wait(0.05) == []


async def test_a_subscription_stops_receiving_once_closed():
    broker = MemoryBroker()
    subscription = broker.subscribe("a")
    subscription.close()

    await broker.publish("a", "x")

    assert not broker.has_subscribers("a")
    assert await subscription.wait(0.05) == []


async def test_a_callback_subscription_gets_each_message_at_once():
    broker = MemoryBroker()
    seen: list[str] = []
    with broker.subscribe("c", on_message=seen.append):
        await broker.publish("c", "x")
    await broker.publish("c", "y")

    assert seen == ["x"]


async def test_a_message_published_in_one_process_reaches_subscribers_in_another(pair):
    first, second = pair
    with second.subscribe("run.1") as remote, first.subscribe("run.1") as local:
        await first.publish("run.1", "42")

        assert await remote.wait(5) == ["42"]
        assert await local.wait(5) == ["42"]


async def test_every_subscriber_of_a_channel_is_woken(pair):
    first, second = pair
    subscriptions = [second.subscribe("fan") for _ in range(5)]
    await first.publish("fan", "go")

    results = await asyncio.gather(*(s.wait(5) for s in subscriptions))

    assert results == [["go"]] * 5
    for subscription in subscriptions:
        subscription.close()


@pytest.mark.postgres
async def test_the_postgres_broker_reconnects_and_wakes_everyone_after_losing_its_listener():
    broker, publisher = PostgresBroker(PG_URL), PostgresBroker(PG_URL)
    await broker.start()
    await publisher.start()
    try:
        with broker.subscribe("x") as subscription:
            listener_pid = broker._listener.get_server_pid()  # the broker's own LISTEN session
            admin = await asyncpg.connect(PG_URL)
            await admin.execute("SELECT pg_terminate_backend($1)", listener_pid)
            await admin.close()

            woken = await subscription.wait(5)
            for _ in range(50):
                await publisher.publish("x", "after")
                woken = await subscription.wait(0.1)
                if "after" in woken:
                    break

        assert "after" in woken
    finally:
        await broker.close()
        await publisher.close()


async def test_many_messages_published_at_once_all_arrive_in_order(pair):
    first, second = pair
    # Over 8,000 bytes in one loop turn: more than one PostgreSQL notification can carry.
    messages = [f"{i}:" + "x" * 100 for i in range(200)]
    with second.subscribe("run.many", "run.other") as remote:
        await asyncio.gather(
            *(first.publish("run.many", m) for m in messages), first.publish("run.other", "y")
        )
        received: list[str] = []
        while len(received) < len(messages) + 1:
            batch = await remote.wait(5)
            assert batch, f"only {len(received)} of {len(messages) + 1} arrived"
            received += batch

    assert [m for m in received if m != "y"] == messages
    assert received.count("y") == 1


@pytest.mark.postgres
async def test_a_message_with_the_record_separator_is_refused():
    broker = PostgresBroker(PG_URL)
    await broker.start()
    try:
        with pytest.raises(ValueError, match="record separator"):
            await broker.publish("run.1", "a\x1eb")
    finally:
        await broker.close()
