"""Every event the suite stores must read as the public wire schema says.

`corral.types.events.Event` is what clients validate against (the SDK among them), so the log is
checked against it after every test that had a database: a field misspelt or mistyped anywhere
an event is written fails the test that wrote it, on SQLite and on PostgreSQL alike.
"""

from __future__ import annotations

from pathlib import Path

import orjson
import pydantic
import sqlalchemy as sa

from corral.storage.database import Database
from corral.types.events import Event

_EVENT = pydantic.TypeAdapter(Event)


async def assert_stored_events_match_the_wire_schema(url: str, schema: str | None) -> None:
    """Validate every stored event of the database at `url` (and `schema`), if it has any."""
    if url.startswith("sqlite:///") and not Path(url.removeprefix("sqlite:///")).exists():
        return
    database = Database(url, schema=schema)
    await database.connect()
    try:
        documents = await database.read(_stored_events)
    finally:
        await database.close()
    problems = []
    for document in documents:
        try:
            _EVENT.validate_python(orjson.loads(document))
        except pydantic.ValidationError as error:
            problems.append(f"{document}: {error}")
    assert problems == [], "events that do not match corral.types.events:\n" + "\n".join(problems)


def _stored_events(conn: sa.Connection) -> list[str]:
    if not sa.inspect(conn).has_table("run_events"):
        return []
    return list(conn.execute(sa.text("SELECT data FROM run_events")).scalars())
