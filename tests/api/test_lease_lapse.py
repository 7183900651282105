"""A worker whose lease on a run lapsed while its event loop stalled, and that claims it again.

The worker then holds two executions of one run: the one that went on after the stall, and the
one its new claim starts. Only the new claim may write; the earlier one stops. A reader sees the
run's reply once, never the two executions' deltas woven together.
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


async def test_a_run_claimed_again_by_its_own_worker_is_written_by_the_new_claim_only(
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
    assert attempts == 2
    assert ended["output"] == TEXT
    assert [e["text"] for e in log if e["type"] == "message.completed"] == [TEXT]
    # What the first claim streamed before the lapse, then the rest from the second.
    assert "".join(e["text"] for e in log if e["type"] == "message.delta") == TEXT
    assert still_running == []
