"""Outbound webhooks across real processes: every run's end reaches a receiver that fails, once.

A receiver that is down, a sender SIGKILLed in the middle of its requests, and a receiver that
goes down and up again while runs end: in the end each run's end has arrived, signed with the
endpoint's secret, under one `webhook-id` per run end; a message that came twice (sent by the
dead sender, then again by the next one, or resent) came under the same id, byte for byte.

The retry schedule's first wait is 5 s and its second 5 minutes, so no delivery may be refused
twice: the receiver comes back well within those 5 s. An attempt cut off by the crash is no
failure; its lease (three times `CORRAL_WEBHOOK_TIMEOUT_S`, short here) lapses, and the next
sender takes it over within seconds.

SQLite runs as it is deployed, one `corral serve` with its worker (the crash kills it and a new
one starts on the same data); PostgreSQL as an API-only `corral serve` and a `corral worker`
(the crash kills the worker and a new worker takes over).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from aiohttp import web

from tests.e2e.conftest import Cluster
from tests.e2e.helpers import TERMINAL_TYPES, api_and_worker, eventually
from tests.helpers import events, submit, wait
from tests.webhook_receiver import Receiver, verified

pytestmark = pytest.mark.e2e

DATABASES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

SETTINGS: dict[str, Any] = {
    "network_private_hosts": '["127.0.0.1"]',
    "webhook_timeout_s": 2,
    "rate_limit_per_minute": 0,
    "workspace_rate_limit_per_minute": 0,
    "submits_per_minute": 0,
}
"""The receiver is on 127.0.0.1, which the operator must allow; a dead sender's leases lapse
after 6 s; the test polls often, so no rate limit may get in its way."""

FIRST_RUNS = 8
"""Runs that end while the receiver is down, and whose retries the crash interrupts."""

LATER_RUNS = 12
"""Runs that end, spread over two seconds, while the receiver goes down and up again."""


class GatedReceiver(Receiver):
    """The shared receiver, able to hold requests (recorded on arrival) until `gate` opens."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = asyncio.Event()
        self.gate.set()
        self.arrived_at: list[float] = []

    async def _handle(self, request: web.Request) -> web.Response:
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.received.append((headers, await request.read()))
        self.arrived_at.append(time.monotonic())
        await self.gate.wait()
        return web.Response(status=self.status)

    def ids(self) -> list[str]:
        return [headers["webhook-id"] for headers, _ in self.received]


@pytest.fixture
async def receiver() -> AsyncIterator[GatedReceiver]:
    """A receiver whose port is chosen but that is not listening yet: down."""
    found = GatedReceiver()
    yield found
    found.gate.set()
    await found.stop()


async def deliveries(client: httpx.AsyncClient, webhook_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": 100})
    assert response.status_code == 200, response.text
    return list(response.json()["data"])


async def deliveries_of(
    client: httpx.AsyncClient, webhook_id: str, runs: list[dict[str, Any]], **expected: Any
) -> list[dict[str, Any]]:
    """The deliveries of `runs`, once there is one per run and each has the `expected` values."""

    async def settled() -> list[dict[str, Any]] | None:
        wanted = {run["id"] for run in runs}
        found = [d for d in await deliveries(client, webhook_id) if d["run_id"] in wanted]
        done = len(found) == len(wanted) and all(
            all(d[k] == v for k, v in expected.items()) for d in found
        )
        return found if done else None

    return list(await eventually(settled, timeout_s=20, interval_s=0.1))


async def until_failed_once(
    client: httpx.AsyncClient, webhook_id: str, runs: list[dict[str, Any]], count: int
) -> None:
    """Until `count` deliveries of `runs` have had an attempt fail (connection refused)."""

    async def failed() -> bool:
        wanted = {run["id"] for run in runs}
        found = await deliveries(client, webhook_id)
        return sum(1 for d in found if d["run_id"] in wanted and d["last_error"]) >= count

    await eventually(failed, timeout_s=10, interval_s=0.05)


async def submit_all(client: httpx.AsyncClient, inputs: list[str]) -> list[dict[str, Any]]:
    return list(await asyncio.gather(*(submit(client, text) for text in inputs)))


@pytest.mark.parametrize("database", DATABASES)
async def test_every_run_end_arrives_once_per_id_through_a_down_receiver_and_a_killed_sender(
    cluster: Cluster, database: str, receiver: GatedReceiver
) -> None:
    if database == "postgres":
        env = await cluster.postgres_env(**SETTINGS)
    else:
        env = cluster.sqlite_env(**SETTINGS)
    server, sender = await api_and_worker(cluster, database, env)

    async with server.client(timeout=30) as client:
        created = await client.post(
            "/v1/webhooks",
            json={"url": receiver.url, "event_types": ["run.completed", "run.failed"]},
        )
        assert created.status_code == 201, created.text
        webhook = created.json()

        # 1. The receiver is down while the first runs end: each first attempt is refused.
        first = await submit_all(
            client,
            [
                "[[fail invalid_request scripted]] no" if index % 4 == 3 else f"first {index}"
                for index in range(FIRST_RUNS)
            ],
        )
        for run in first:
            await wait(client, run["id"])
        await until_failed_once(client, webhook["id"], first, FIRST_RUNS)

        # 2. Up again within the 5 s before the retries, holding them: SIGKILL their sender.
        receiver.gate.clear()
        await receiver.start()
        await eventually(lambda: receiver.received, timeout_s=10)
        await asyncio.sleep(0.3)  # the rest of the sender's batch arrives
        held = set(receiver.ids())
        sender.kill()
        receiver.gate.set()

    if database == "sqlite":
        server = sender = await cluster.serve(env)
    else:
        sender = await cluster.worker(env)

    async with server.client(timeout=30) as client:
        # The held ones go again once the dead sender's lease lapses; the others at once.
        await deliveries_of(client, webhook["id"], first, status="delivered")

        # 3. The receiver goes down and up again while more runs end, spread over 2 s.
        later = await submit_all(
            client, [f"[[delay {index * 180}ms]] later {index}" for index in range(LATER_RUNS)]
        )
        before = len(receiver.received)
        await eventually(lambda: len(receiver.received) >= before + 2, timeout_s=10)
        await receiver.stop()
        await until_failed_once(client, webhook["id"], later, 1)
        await receiver.start()
        for run in later:
            await wait(client, run["id"])
        found = await deliveries_of(client, webhook["id"], first + later, status="delivered")

        # 4. A resend goes again, under the same id.
        resent_id = found[-1]["message_id"]
        resent = await client.post(f"/v1/webhooks/{webhook['id']}/deliveries/{resent_id}/resend")
        assert resent.status_code == 200, resent.text
        await eventually(lambda: receiver.ids().count(resent_id) >= 2, timeout_s=10)
        await deliveries_of(client, webhook["id"], first + later, status="delivered")

        ends = {}
        for run in first + later:
            [end] = [e for e in await events(client, run["id"]) if e["type"] in TERMINAL_TYPES]
            ends[f"msg_{run['id']}_{end['seq']}"] = end

    bodies: dict[str, set[bytes]] = defaultdict(set)
    for headers, body in receiver.received:
        message = verified(webhook["secret"], headers, body)
        end = ends[headers["webhook-id"]]
        assert (message["type"], message["data"]) == (end["type"], end), message
        assert message["timestamp"] == end["created_at"]
        bodies[headers["webhook-id"]].add(body)
    assert bodies.keys() == ends.keys()  # exactly one id per run end, none lost
    assert all(len(sent) == 1 for sent in bodies.values())  # a repeat is the same message
    repeated = {i for i in receiver.ids() if receiver.ids().count(i) > 1}
    assert held and held | {resent_id} <= repeated, (held, repeated)
    assert {e["type"] for e in ends.values()} == {"run.completed", "run.failed"}
    by_run = {d["run_id"]: d for d in found}
    assert all(by_run[run["id"]]["attempts"] >= 2 for run in first)  # refused, then sent
    assert any(by_run[run["id"]]["attempts"] >= 2 for run in later)  # some ended while down
    assert sender.errors() == [], sender.describe()
