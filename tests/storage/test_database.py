from __future__ import annotations

import asyncio

import sqlalchemy as sa

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
