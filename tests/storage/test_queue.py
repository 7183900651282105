from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from corral.storage import queue, runs, workspaces
from corral.storage.database import async_url
from tests.storage.conftest import NOW


async def claim(database, worker="w1", now=NOW, limit=10, lease_s=10.0, caps=None, running=()):
    found = await database.write(
        queue.claim,
        worker_id=worker,
        now=now,
        lease_s=lease_s,
        limit=limit,
        caps=caps or queue.Caps(),
        running=running,
    )
    return found.runs


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


async def test_a_worker_does_not_take_over_a_lapsed_lease_of_a_run_it_still_executes(
    database, make_run
):
    mine, left = await make_run(), await make_run()
    await claim(database, worker="w1", lease_s=5)
    later = NOW + timedelta(seconds=6)

    again = await claim(database, worker="w1", now=later, running=[mine])
    held = await database.write(
        queue.heartbeat, worker_id="w1", run_ids=[mine], now=later, lease_s=5
    )

    assert [(r.id, r.attempts) for r in again] == [(left, 2)]
    assert held == {mine}
    assert await claim(database, worker="w2", now=later) == []


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


# -- concurrency caps ----------------------------------------------------------------------


async def end(database, *run_ids):
    await database.write(
        lambda conn: conn.execute(
            runs.runs.update().where(runs.runs.c.id.in_(run_ids)).values(status="completed")
        )
    )


async def held(database, workspace="ws_1", agent_id=None):
    def count(conn):
        query = sa.select(sa.func.count()).where(
            runs.runs.c.workspace_id == workspace, runs.runs.c.status.in_(["running", "waiting"])
        )
        if agent_id is not None:
            query = query.where(runs.runs.c.agent_id == agent_id)
        return conn.execute(query).scalar_one()

    return await database.read(count)


async def set_limits(database, limits, workspace="ws_1"):
    await database.write(workspaces.set_limits, workspace, limits)


async def test_runs_over_the_workspace_cap_stay_queued_until_one_ends(database, make_run):
    ids = [await make_run() for _ in range(5)]
    caps = queue.Caps(workspace=2)

    first = await database.write(
        queue.claim, worker_id="w1", now=NOW, lease_s=10, limit=10, caps=caps
    )
    none = await database.write(
        queue.claim, worker_id="w2", now=NOW, lease_s=10, limit=10, caps=caps
    )
    await end(database, ids[0])
    after_one_ended = await claim(database, worker="w2", caps=caps)

    assert ([r.id for r in first.runs], first.backlog) == (ids[:2], True)
    assert (none.runs, none.backlog) == ([], True)
    assert [r.id for r in after_one_ended] == [ids[2]]


async def test_the_workspace_override_replaces_the_server_cap(database, make_run, workspace):
    ids = [await make_run() for _ in range(4)]
    await set_limits(database, {"max_concurrent_runs": 1})
    assert [r.id for r in await claim(database, caps=queue.Caps(workspace=0))] == ids[:1]

    await set_limits(database, {"max_concurrent_runs": 0})  # unlimited, over a server cap of 1
    assert [r.id for r in await claim(database, caps=queue.Caps(workspace=1))] == ids[1:]


async def test_the_agent_cap_holds_each_agent_back_and_leaves_inline_runs_alone(database, make_run):
    a1, a2 = await make_run(agent_id="agt_a"), await make_run(agent_id="agt_a")
    b1, inline = await make_run(agent_id="agt_b"), await make_run()
    a3 = await make_run(agent_id="agt_a")
    caps = queue.Caps(workspace=10, agent=1)

    claimed = [r.id for r in await claim(database, caps=caps)]
    assert claimed == [a1, b1, inline]
    assert await claim(database, caps=caps) == []

    await end(database, a1)
    assert [r.id for r in await claim(database, caps=caps)] == [a2]
    await set_limits(database, {"max_concurrent_runs_per_agent": 2})
    assert [r.id for r in await claim(database, caps=caps)] == [a3]


async def test_the_workspace_cap_bounds_the_agents_together(database, make_run):
    for agent in ("agt_a", "agt_b", "agt_c"):
        await make_run(agent_id=agent)
        await make_run(agent_id=agent)

    claimed = await claim(database, caps=queue.Caps(workspace=3, agent=2))

    assert len(claimed) == 3
    assert await held(database) == 3


async def test_a_run_whose_lease_expired_is_taken_over_even_at_the_cap(database, make_run):
    running = await make_run()
    await claim(database, worker="dead", lease_s=5, caps=queue.Caps(workspace=1))
    queued = await make_run()

    taken = await claim(
        database, worker="w2", now=NOW + timedelta(seconds=6), caps=queue.Caps(workspace=1)
    )

    assert [r.id for r in taken] == [running]
    assert queued not in [r.id for r in taken]


async def test_with_nothing_queued_a_claim_reports_no_backlog(database, make_run):
    await make_run()
    found = await database.write(queue.claim, worker_id="w1", now=NOW, lease_s=10, limit=10)
    empty = await database.write(queue.claim, worker_id="w1", now=NOW, lease_s=10, limit=10)

    assert (len(found.runs), found.backlog) == (1, False)
    assert (empty.runs, empty.backlog) == ([], False)


async def test_workers_claiming_at_once_never_exceed_the_caps(database, make_run):
    for n in range(24):
        await make_run(agent_id="agt_a" if n % 2 else None)
    caps = queue.Caps(workspace=3, agent=2)
    taken: list[str] = []

    for _ in range(40):
        claims = await asyncio.gather(
            *(
                database.write_statement(
                    queue.claim, worker_id=f"w{n}", now=NOW, lease_s=10, limit=4, caps=caps
                )
                for n in range(6)
            )
        )
        leased = [r.id for found in claims for r in found.runs]
        taken += leased
        assert await held(database) <= 3
        assert await held(database, agent_id="agt_a") <= 2
        await end(database, *leased)
        if len(taken) == 24:
            break

    assert len(taken) == len(set(taken)) == 24


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers
async def test_a_claim_that_counted_before_another_committed_leaves_the_workspace_alone(
    database, database_url, make_run
):
    """Claim A holds its transaction open; claim B, begun meanwhile, counts A's runs as queued.

    Without the workspace row's check B would take the last slot too.
    """
    ids = [await make_run() for _ in range(4)]
    caps = queue.Caps(workspace=2)
    url, schema = database_url
    engine = create_async_engine(
        async_url(url), connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))  # its transaction begins
            first = await conn.run_sync(
                queue.claim, worker_id="a", now=NOW, lease_s=10, limit=1, caps=caps
            )
            second = asyncio.ensure_future(
                database.write_statement(
                    queue.claim, worker_id="b", now=NOW, lease_s=10, limit=4, caps=caps
                )
            )
            await asyncio.sleep(0.3)
            assert not second.done()  # it waits for A's rewrite of the workspace row
            await conn.commit()
        second_claim = await second
        third = await database.write_statement(
            queue.claim, worker_id="c", now=NOW, lease_s=10, limit=4, caps=caps
        )
    finally:
        await engine.dispose()

    assert [r.id for r in first.runs] == ids[:1]
    assert (second_claim.runs, second_claim.backlog) == ([], True)
    assert [r.id for r in third.runs] == ids[1:2]
    assert await held(database) == 2
