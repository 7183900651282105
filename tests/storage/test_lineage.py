"""A parked parent goes back to the queue when, and only when, the children it awaits have ended."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from corral.storage import lineage, runs
from corral.storage.database import async_url
from tests.storage.conftest import NOW


def ended(conn: sa.Connection, child_id: str, parent_id: str) -> bool:
    """A child's ending as its worker writes it: its status, then its parent woken."""
    conn.execute(runs.runs.update().where(runs.runs.c.id == child_id).values(status="completed"))
    return lineage.wake_parent(conn, parent_id)


async def status(database, run_id: str) -> str | None:
    return await database.read(runs.get_status, run_id)


async def family(make_run, awaited: int = 2, other: int = 0) -> tuple[str, list[str]]:
    """A parent parked for its children (no worker), and its running children."""
    parent = await make_run(status="waiting", children=awaited + other)
    kids = [
        await make_run(
            status="running",
            parent_run_id=parent,
            root_run_id=parent,
            depth=1,
            call_id=f"call_{n}",
            awaited=n < awaited,
            lease_owner="w1",
        )
        for n in range(awaited + other)
    ]
    return parent, kids


async def test_the_last_awaited_child_to_end_queues_its_parent(database, make_run):
    parent, (first, second, loose) = await family(make_run, awaited=2, other=1)

    assert not await database.write(ended, first, parent)
    assert await status(database, parent) == "waiting"
    assert await database.write(ended, second, parent)
    assert await status(database, parent) == "queued"
    # A child the parent never waited for does not hold it.
    assert await status(database, loose) == "running"


async def test_a_parent_with_a_worker_is_not_queued_by_its_child(database, make_run):
    parent, (child,) = await family(make_run, awaited=1)
    await database.write(
        lambda conn: conn.execute(
            runs.runs.update().where(runs.runs.c.id == parent).values(lease_owner="w2")
        )
    )

    assert not await database.write(ended, child, parent)
    assert await status(database, parent) == "waiting"


async def test_children_are_found_by_their_parent_s_call_and_counted(database, make_run):
    parent = await make_run(status="running")
    rows = [
        {
            "id": f"run_child_{n}",
            "workspace_id": "ws_1",
            "status": "queued",
            "model": "test",
            "spec": {"model": "test", "tools": [], "limits": {}},
            "input": "task",
            "metadata": {},
            "created_at": NOW,
            "parent_run_id": parent,
            "root_run_id": parent,
            "depth": 1,
            "call_id": f"call_{n}",
        }
        for n in range(3)
    ]
    await database.write(lineage.insert_children, parent, rows)

    found = await database.read(lineage.children_of_calls, parent, ["call_0", "call_2", "x"])
    assert {call: child.id for call, child in found.items()} == {
        "call_0": "run_child_0",
        "call_2": "run_child_2",
    }
    assert await database.read(lineage.breadth, parent, parent) == (3, 3)


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite serialises writers
async def test_two_children_ending_at_once_queue_their_parent(database, database_url, make_run):
    """Without the parent's row lock, each ending would see the other child still running.

    The parent would then wait forever.
    """
    parent, (first, second) = await family(make_run, awaited=2)
    url, schema = database_url
    engine = create_async_engine(
        async_url(url), connect_args={"server_settings": {"search_path": schema}}
    )
    try:
        async with engine.connect() as conn:
            woke_first = await conn.run_sync(ended, first, parent)
            other = asyncio.ensure_future(database.write(ended, second, parent))
            await asyncio.sleep(0.3)
            assert not other.done()  # it waits for the parent's row
            await conn.commit()
        woke_second = await other
    finally:
        await engine.dispose()

    assert (woke_first, woke_second) == (False, True)
    assert await status(database, parent) == "queued"
