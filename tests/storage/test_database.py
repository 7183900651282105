from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from corral.errors import Unavailable
from corral.storage.database import Database

_BUMP = sa.text("UPDATE runs SET attempts = attempts + 1 WHERE id = :id")


def _bump_both(conn: sa.Connection, first: str, second: str) -> None:
    conn.execute(_BUMP, {"id": first})
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_sleep(0.3)"))  # the other transaction takes its first row
    conn.execute(_BUMP, {"id": second})


async def test_writes_locking_rows_in_opposite_orders_both_commit(database: Database, make_run):
    one, two = await make_run(), await make_run()

    await asyncio.gather(database.write(_bump_both, one, two), database.write(_bump_both, two, one))

    attempts = await database.read(
        lambda conn: dict(conn.execute(sa.text("SELECT id, attempts FROM runs")).all())
    )
    assert attempts == {one: 2, two: 2}


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite has one connection, no pool
async def test_a_statement_waits_for_a_free_connection_and_says_so_when_none_frees(
    database_url: tuple[str, str | None],
):
    url, schema = database_url
    db = Database(url, schema=schema, pool_size=1, pool_timeout_s=0.3)
    await db.connect()
    try:
        sleep = sa.text("SELECT pg_sleep(:s)")
        # The second statement waits for the one connection and gets it in time.
        await asyncio.gather(
            db.read(lambda c: c.execute(sleep, {"s": 0.1})),
            db.read(lambda c: c.execute(sleep, {"s": 0})),
        )
        holder = asyncio.ensure_future(db.read(lambda c: c.execute(sleep, {"s": 1})))
        await asyncio.sleep(0.05)
        with pytest.raises(Unavailable, match="all 1 database connections stayed busy"):
            await db.read(lambda c: c.execute(sa.text("SELECT 1")))
        await holder
    finally:
        await db.close()
