from __future__ import annotations

import asyncio

import orjson
import pytest
import sqlalchemy as sa

from corral.errors import Conflict
from corral.storage import events
from corral.storage.database import Database
from tests.storage.conftest import NOW

# The log stores any payload; these tests drive it with placeholder events, not a run's.
pytestmark = pytest.mark.synthetic_events


async def test_appended_events_get_consecutive_seqs_and_complete_documents(database, make_run):
    run_id = await make_run(status="running", lease_owner="w1", attempts=1)

    first = await database.write(
        events.commit,
        run_id=run_id,
        events=[("a", {"x": 1}), ("b", {})],
        now=NOW,
        owner=events.Lease("w1", 1),
    )
    second = await database.write(events.commit, run_id=run_id, events=[("c", {})], now=NOW)
    stored = await database.read(events.read, run_id, after=0, limit=10)

    assert (first.last_seq, second.last_seq) == (2, 3)
    assert [e.seq for e in stored] == [1, 2, 3]
    document = orjson.loads(stored[0].data)
    assert document == {
        "seq": 1,
        "type": "a",
        "run_id": run_id,
        "created_at": "2026-11-23T12:00:00.000000Z",
        "x": 1,
    }


async def test_concurrent_writers_never_produce_gaps_or_duplicates(database, make_run):
    run_id = await make_run(status="running")

    async def writer(name: str) -> None:
        for i in range(20):
            await database.write(
                events.commit, run_id=run_id, events=[(name, {"i": i})] * 3, now=NOW
            )

    await asyncio.gather(*(writer(f"w{n}") for n in range(8)))
    stored = await database.read(events.read, run_id, after=0, limit=10_000)

    assert [e.seq for e in stored] == list(range(1, 8 * 20 * 3 + 1))
    for name in (f"w{n}" for n in range(8)):
        mine = [orjson.loads(e.data)["i"] for e in stored if e.type == name]
        assert mine == sorted(mine)


async def test_nothing_is_written_once_the_run_has_ended(database, make_run):
    run_id = await make_run(status="running")
    ended = await database.write(
        events.commit,
        run_id=run_id,
        events=[("run.completed", {"output": ""})],
        now=NOW,
        values={"status": "completed"},
    )

    late = await database.write(events.commit, run_id=run_id, events=[("x", {})], now=NOW)

    assert ended is not None
    assert late is None
    assert [e.type for e in await database.read(events.read, run_id, after=0, limit=10)] == [
        "run.completed"
    ]


async def test_a_worker_that_lost_its_lease_cannot_write(database, make_run):
    run_id = await make_run(status="running", lease_owner="new-owner", attempts=2)

    result = await database.write(
        events.commit, run_id=run_id, events=[("x", {})], now=NOW, owner=events.Lease("old", 1)
    )

    assert result is None
    assert await database.read(events.read, run_id, after=0, limit=10) == []


@pytest.mark.parametrize("count", [0, 1], ids=["no events", "events"])
async def test_an_older_claim_by_the_same_worker_cannot_write(database, make_run, count):
    """A worker that stalled past its lease and claimed the run again runs it once, not twice."""
    run_id = await make_run(status="running", lease_owner="w1", attempts=2)
    new_events = [("x", {})] * count

    stale = await database.write(
        events.commit,
        run_id=run_id,
        events=new_events,
        now=NOW,
        owner=events.Lease("w1", 1),
        values={"status": "waiting"},
    )
    current = await database.write(
        events.commit, run_id=run_id, events=new_events, now=NOW, owner=events.Lease("w1", 2)
    )

    assert stale is None
    assert current is not None and current.last_seq == count
    assert len(await database.read(events.read, run_id, after=0, limit=10)) == count


async def test_the_database_refuses_a_second_terminal_event(database: Database, make_run):
    run_id = await make_run(status="running")
    await database.write(events.commit, run_id=run_id, events=[("run.completed", {})], now=NOW)

    def sneak(conn: sa.Connection) -> None:
        conn.execute(
            sa.text(
                "INSERT INTO run_events (run_id, seq, type, data, created_at) "
                "VALUES (:r, 99, 'run.failed', '{}', :t)"
            ),
            {"r": run_id, "t": NOW.replace(tzinfo=None)},
        )

    with pytest.raises(Conflict):
        await database.write(sneak)


async def test_reading_after_a_cursor_pages_in_order(database, make_run):
    run_id = await make_run(status="running")
    await database.write(
        events.commit, run_id=run_id, events=[("e", {"i": i}) for i in range(10)], now=NOW
    )

    page = await database.read(events.read, run_id, after=4, limit=3)

    assert [e.seq for e in page] == [5, 6, 7]


async def test_session_runs_also_number_their_events_session_wide(database, make_run, make_session):
    await make_session("ses_1")
    one = await make_run(status="running", session_id="ses_1", session_position=1)
    two = await make_run(status="running", session_id="ses_1", session_position=2)
    await database.write(events.commit, run_id=one, events=[("a", {}), ("b", {})], now=NOW)
    await database.write(events.commit, run_id=two, events=[("c", {})], now=NOW)

    stored = await database.read(events.read_session, "ses_1", after=1, limit=10)

    assert [(e.session_seq, e.type) for e in stored] == [(2, "b"), (3, "c")]


async def test_a_cursor_leads_to_the_first_event_of_the_run_that_logged_it(
    database, make_run, make_session
):
    """Where a reader translating a run's events starts; past the log's end, at its last run."""
    await make_session("ses_1")
    one = await make_run(status="running", session_id="ses_1", session_position=1)
    two = await make_run(status="running", session_id="ses_1", session_position=2)
    await database.write(events.commit, run_id=one, events=[("a", {}), ("b", {})], now=NOW)
    await database.write(events.commit, run_id=two, events=[("c", {}), ("d", {})], now=NOW)

    starts = [await database.read(events.run_start_cursor, "ses_1", cursor) for cursor in range(6)]

    assert starts == [None, 1, 1, 3, 3, 3]


async def test_idempotency_keys_are_forgotten_after_their_time(database, workspace):
    from datetime import timedelta

    from corral.storage import idempotency

    for key, age_h in (("old", 30), ("new", 1)):
        await database.write(
            idempotency.claim,
            workspace_id=workspace,
            key=key,
            operation="agents.create",
            request_hash="h",
            now=NOW - timedelta(hours=age_h),
        )

    expired = await database.write(idempotency.expire, before=NOW - timedelta(hours=24))

    assert expired == 1
    assert await database.read(idempotency.find, workspace, "old") is None
    assert await database.read(idempotency.find, workspace, "new") is not None
