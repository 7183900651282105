"""A worker whose lease on a run lapsed while its event loop stalled, and that still runs it.

Its claims take no run it executes: the execution goes on, and its next heartbeat renews the
lease. Taking the run again would start a second execution beside the first (their deltas woven
into one reply) or cut off the first one's tool calls. A reader sees the reply once.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import sqlalchemy as sa

from corral.pubsub.base import QUEUE_CHANNEL
from corral.storage.tables import runs
from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait

TEXT = "The quick brown fox jumps over the lazy dog while the worker stalls and claims it again."


async def test_a_worker_does_not_claim_again_a_run_it_still_executes(
    make_settings,
):
    # Leases that never lapse by themselves: the test lapses one, as a long stall would.
    settings = make_settings(lease_s=60.0, heartbeat_s=30.0, poll_interval_s=0.05)
    async with running_app(settings) as app, api_client(app) as client:
        ctx = app.state.ctx
        run = await submit(client, f"[[deltas 40]][[stream_delay 25ms]][[reply {TEXT}]]")
        while not [e for e in await events(client, run["id"]) if e["type"] == "message.delta"]:
            await asyncio.sleep(0.01)  # until streaming has begun

        def lapse(conn: sa.Connection) -> None:
            conn.execute(
                runs.update()
                .where(runs.c.id == run["id"])
                .values(lease_expires_at=ctx.clock() - timedelta(seconds=1))
            )

        await ctx.database.write(lapse)
        await ctx.broker.publish(QUEUE_CHANNEL)
        ended = await wait(client, run["id"], timeout_s=20)
        log = await events(client, run["id"])
        attempts = await ctx.database.read(
            lambda conn: conn.execute(
                sa.select(runs.c.attempts).where(runs.c.id == run["id"])
            ).scalar_one()
        )
        for _ in range(500):  # the ended run's task closes its environment, then goes
            if not (still_running := app.state.worker.active_run_ids):
                break
            await asyncio.sleep(0.01)

    assert ended["status"] == "completed", ended
    assert attempts == 1
    assert ended["output"] == TEXT
    assert [e["text"] for e in log if e["type"] == "message.completed"] == [TEXT]
    assert "".join(e["text"] for e in log if e["type"] == "message.delta") == TEXT
    assert still_running == []
