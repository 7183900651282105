from __future__ import annotations

import asyncio
from datetime import timedelta

from corral.storage import queue, runs
from tests.storage.conftest import NOW


async def claim(database, worker="w1", now=NOW, limit=10, lease_s=10.0):
    return await database.write(
        queue.claim, worker_id=worker, now=now, lease_s=lease_s, limit=limit
    )


async def test_queued_runs_are_claimed_oldest_first_and_marked_running(database, make_run):
    ids = [await make_run() for _ in range(3)]

    claimed = await claim(database, limit=2)

    assert [r.id for r in claimed] == ids[:2]
    assert all(r.status == "running" and r.lease_owner == "w1" for r in claimed)
    assert all(r.started_at == NOW and r.attempts == 1 for r in claimed)
    assert [r.id for r in await claim(database, worker="w2")] == ids[2:]


async def test_two_workers_claiming_at_once_never_get_the_same_run(database, make_run):
    ids = {await make_run() for _ in range(40)}

    results = await asyncio.gather(*(claim(database, worker=f"w{n}", limit=7) for n in range(6)))
    claimed = [r.id for result in results for r in result]

    assert len(claimed) == len(set(claimed)) == 40
    assert set(claimed) == ids


async def test_a_run_whose_lease_expired_is_taken_over_keeping_its_status(database, make_run):
    run_id = await make_run()
    await claim(database, worker="dead", lease_s=5)
    await database.write(
        lambda conn: conn.execute(
            runs.runs.update().where(runs.runs.c.id == run_id).values(status="waiting")
        )
    )

    too_early = await claim(database, worker="w2", now=NOW + timedelta(seconds=4))
    taken = await claim(database, worker="w2", now=NOW + timedelta(seconds=6))

    assert too_early == []
    assert [(r.id, r.status, r.lease_owner, r.attempts) for r in taken] == [
        (run_id, "waiting", "w2", 2)
    ]
    assert taken[0].started_at == NOW


async def test_heartbeats_keep_a_lease_and_report_runs_lost_to_another_worker(database, make_run):
    kept, lost = await make_run(), await make_run()
    await claim(database, worker="w1", lease_s=5)
    await claim(database, worker="w2", now=NOW + timedelta(seconds=6))  # steals both
    await claim(database, worker="w1", now=NOW + timedelta(seconds=6))

    held = await database.write(
        queue.heartbeat,
        worker_id="w2",
        run_ids=[kept, lost],
        now=NOW + timedelta(seconds=7),
        lease_s=5,
    )

    assert held == {kept, lost}
    assert (
        await database.write(queue.heartbeat, worker_id="w1", run_ids=[kept], now=NOW, lease_s=5)
        == set()
    )


async def test_released_runs_can_be_claimed_at_once(database, make_run):
    run_id = await make_run()
    await claim(database, worker="w1", lease_s=60)

    await database.write(queue.release, worker_id="w1", run_ids=[run_id], now=NOW)
    taken = await claim(database, worker="w2", now=NOW + timedelta(milliseconds=1))

    assert [r.id for r in taken] == [run_id]


async def test_a_session_runs_one_message_at_a_time_in_order(database, make_run, make_session):
    await make_session("ses_1")
    first = await make_run(session_id="ses_1", session_position=1)
    second = await make_run(session_id="ses_1", session_position=2)
    other = await make_run()

    claimed = [r.id for r in await claim(database)]
    assert claimed == [first, other]
    assert await claim(database) == []

    await database.write(
        lambda conn: conn.execute(
            runs.runs.update().where(runs.runs.c.id == first).values(status="completed")
        )
    )
    assert [r.id for r in await claim(database)] == [second]
