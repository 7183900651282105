"""The event writer on a real database: a turn's events are never logged ahead of its checkpoint.

This holds however the flusher and the run's own commits interleave.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from corral.domain import events
from corral.pubsub.memory import MemoryBroker
from corral.runtime.event_writer import FLUSH_DELAY_S, EventWriter
from corral.storage import events as event_log
from corral.storage import queue, runs
from corral.storage.database import Database
from corral.storage.runs import RunRecord

CHECKPOINTED = {"message.completed", "usage", "tool.completed"}


class Snapshots:
    """What a worker that died right after each commit would leave for the next owner."""

    def __init__(self, database: Database, run_id: str) -> None:
        self.database, self.run_id = database, run_id
        self.taken: list[tuple[list[str], int]] = []

    async def take(self) -> None:
        def read(conn: Any) -> tuple[list[str], int]:
            logged = event_log.read(conn, self.run_id, after=0, limit=1000)
            record = runs.get(conn, "ws_1", self.run_id)
            assert record is not None
            covered = (record.checkpoint or {}).get("seq", 0)
            return [e.type for e in logged], covered

        self.taken.append(await self.database.read(read))

    def beyond_checkpoint(self) -> list[list[str]]:
        """For each commit, the checkpointed events it left after the checkpoint."""
        return [[t for t in types[covered:] if t in CHECKPOINTED] for types, covered in self.taken]


async def claimed_run(database: Database, make_run: Any) -> RunRecord:
    run_id = await make_run()
    now = datetime.now(UTC)
    claim = await database.write(queue.claim, worker_id="w1", now=now, lease_s=60, limit=1)
    (run,) = claim.runs
    assert run.id == run_id
    return run


def writer_of(run: RunRecord, database: Database, snapshots: Snapshots) -> EventWriter:
    return EventWriter(
        run=run,
        worker_id="w1",
        database=_Observed(database, snapshots),  # type: ignore[arg-type]
        broker=MemoryBroker(),
        clock=lambda: datetime.now(UTC),
    )


class _Observed:
    """The real database, looked at after each write (the writer holds its lock meanwhile)."""

    def __init__(self, database: Database, snapshots: Snapshots) -> None:
        self._database, self._snapshots = database, snapshots
        self.dialect = database.dialect

    async def write(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._database.write(*args, **kwargs)
        await self._snapshots.take()
        return result

    async def write_statement(self, *args: Any, **kwargs: Any) -> Any:
        result = await self._database.write_statement(*args, **kwargs)
        await self._snapshots.take()
        return result


async def test_a_flush_already_under_way_does_not_take_a_finished_turn_along(
    database: Database, make_run: Any
) -> None:
    run = await claimed_run(database, make_run)
    snapshots = Snapshots(database, run.id)
    writer = writer_of(run, database, snapshots)
    loop = asyncio.get_running_loop()

    writer.emit(events.MessageDelta(text="Hello"))  # arms the flush timer
    # Wake this task in the same loop iteration as the timer, but first: the flush task is then
    # created, not yet run, when the turn ends below: the moment a flusher could take the
    # finished turn along without its checkpoint.
    turn_ended = loop.create_future()
    loop.call_later(FLUSH_DELAY_S / 2, turn_ended.set_result, None)
    time.sleep(FLUSH_DELAY_S * 3)  # both are due when the loop looks again
    await turn_ended
    writer.emit_checkpointed(events.MessageCompleted(text="Hello", tool_calls=()))
    writer.emit_checkpointed(events.Usage(3, 1, 0, 0, 0.0))
    await writer.commit(values={}, checkpoint=lambda seq: {"seq": seq})
    await writer.close()

    assert len(snapshots.taken) == 2, "the flusher and the checkpoint each committed"
    assert snapshots.beyond_checkpoint() == [[], []]
    assert snapshots.taken[-1] == (["message.delta", "message.completed", "usage"], 3)


async def test_streamed_events_after_a_held_one_wait_with_it_and_keep_their_order(
    database: Database, make_run: Any
) -> None:
    run = await claimed_run(database, make_run)
    snapshots = Snapshots(database, run.id)
    writer = writer_of(run, database, snapshots)

    writer.emit(events.ToolStarted(call_id="c1", name="bash", input={}))
    writer.emit_checkpointed(events.ToolCompleted("c1", "bash", True, "ok", None))
    writer.emit(events.MessageDelta(text="next"))
    await asyncio.sleep(FLUSH_DELAY_S * 5)
    assert [types for types, _ in snapshots.taken] == [["tool.started"]]
    assert writer.pending == 2

    await writer.commit(values={}, checkpoint=lambda seq: {"seq": seq})
    await writer.close()
    assert snapshots.taken[-1] == (["tool.started", "tool.completed", "message.delta"], 3)


async def _logged(database: Database, run_id: str) -> list[tuple[str, str]]:
    stored = await database.read(event_log.read, run_id, after=0, limit=1000)
    return [(e.type, orjson.loads(e.data).get("text", "")) for e in stored]


async def test_deltas_waiting_in_one_batch_become_one_event_with_their_text_joined(
    database: Database, make_run: Any
) -> None:
    run = await claimed_run(database, make_run)
    writer = writer_of(run, database, Snapshots(database, run.id))

    for piece in ("Hel", "lo"):
        writer.emit(events.MessageDelta(text=piece))
    writer.emit(events.ThinkingDelta(text="hm"))
    for piece in (" wor", "ld", "!"):
        writer.emit(events.MessageDelta(text=piece))
    writer.emit(events.ToolStarted(call_id="c1", name="bash", input={}))
    writer.emit(events.MessageDelta(text="after"))
    await writer.commit(values={})
    await writer.close()

    assert await _logged(database, run.id) == [
        ("message.delta", "Hello"),
        ("thinking.delta", "hm"),
        ("message.delta", " world!"),
        ("tool.started", ""),
        ("message.delta", "after"),
    ]


async def test_an_event_emitted_while_the_writer_is_idle_is_written_without_waiting(
    database: Database, make_run: Any
) -> None:
    run = await claimed_run(database, make_run)
    snapshots = Snapshots(database, run.id)
    writer = writer_of(run, database, snapshots)

    writer.emit(events.MessageDelta(text="first"))
    await asyncio.sleep(0)  # the loop's next turn starts the flush
    await writer.close()  # waits for a flush under way, and starts none

    assert [types for types, _ in snapshots.taken] == [["message.delta"]]


async def test_deltas_emitted_while_a_flush_writes_wait_for_the_next_batch_together(
    database: Database, make_run: Any
) -> None:
    run = await claimed_run(database, make_run)
    writer = writer_of(run, database, Snapshots(database, run.id))

    writer.emit(events.MessageDelta(text="a"))
    while writer.pending:  # until the flush has taken "a" to write it
        await asyncio.sleep(0)
    writer.emit(events.MessageDelta(text="b"))
    writer.emit(events.MessageDelta(text="c"))
    await asyncio.sleep(FLUSH_DELAY_S * 3)
    await writer.commit(values={})
    await writer.close()

    assert await _logged(database, run.id) == [("message.delta", "a"), ("message.delta", "bc")]
