"""Following a run with the runs below it: one stream of a tree's events, merged live.

Each run of the tree is followed as `follow_run` follows one run; a run's `subagent.started`
adds its child. Every event carries its `run_id` and `seq`. The position in such a stream is one
seq per run: the cursor (`TreeCursor`) is the followed run's seq, then `RUN:SEQ` for every run
below it that events were sent of. A reconnect with it sends what each run logged after its
seq, and runs it does not name from their start.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import orjson

from corral.context import ServiceContext
from corral.errors import InvalidRequest, NotFound
from corral.services import auth
from corral.services.context import Principal
from corral.services.events import HEARTBEAT, follow_events
from corral.storage import lineage
from corral.storage import runs as run_store
from corral.storage.events import StoredEvent

__all__ = ["TreeCursor", "TreeEvents", "follow_tree"]

_SEPARATOR = ";"


@dataclass
class TreeCursor:
    """How far a client got in a tree's stream: a seq per run."""

    root: int = 0
    below: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, text: str | None, after: int | None) -> TreeCursor:
        """A `Last-Event-ID` of such a stream (it wins), or a plain `after` seq."""
        if not text:
            return cls(root=after or 0)
        first, *rest = text.split(_SEPARATOR)
        try:
            root = int(first)
            below = {}
            for part in rest:
                run_id, _, seq = part.rpartition(":")
                below[run_id] = int(seq)
        except ValueError:
            raise InvalidRequest(
                f"Last-Event-ID {text[:80]!r} is not a position in this stream",
                field="Last-Event-ID",
            ) from None
        if root < 0 or any(seq < 0 for seq in below.values()) or "" in below:
            raise InvalidRequest("Last-Event-ID holds a negative seq", field="Last-Event-ID")
        return cls(root=root, below=below)

    def encode(self) -> str:
        """The cursor as a frame's id."""
        return _SEPARATOR.join(
            [str(self.root), *(f"{run_id}:{seq}" for run_id, seq in self.below.items())]
        )


@dataclass(frozen=True, slots=True)
class TreeEvents:
    """Events of one run of the tree, and the cursor once they are sent."""

    events: list[StoredEvent]
    cursor: str


async def follow_tree(
    ctx: ServiceContext, principal: Principal, run_id: str, cursor: TreeCursor
) -> AsyncIterator[TreeEvents | None]:
    """Batches of the run's events and of every run below it, live, until all have ended.

    None marks a heartbeat.
    """
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:read")
    if await ctx.database.read(run_store.get_status_in, principal.workspace_id, run_id) is None:
        raise NotFound(f"no run {run_id!r}")
    below = await ctx.database.read(lineage.subtree_ids, run_id)
    return _Merge(ctx, run_id, cursor, [r for r in below if r != run_id]).batches()


_DONE = object()
"""What a run's pump puts on the queue when the run's stream has ended."""


class _Merge:
    """One pump per run of the tree feeding one queue; the stream is the queue."""

    def __init__(
        self, ctx: ServiceContext, root: str, cursor: TreeCursor, known: list[str]
    ) -> None:
        self._ctx = ctx
        self._root = root
        self._cursor = cursor
        self._queue: asyncio.Queue[tuple[str, object]] = asyncio.Queue(maxsize=64)
        self._pumps: dict[str, asyncio.Task[None]] = {}
        self._known = known

    async def batches(self) -> AsyncIterator[TreeEvents | None]:
        try:
            self._add(self._root, self._cursor.root)
            for run_id in self._known:
                self._add(run_id, self._cursor.below.get(run_id, 0))
            running = len(self._pumps)
            while running:
                run_id, item = await self._queue.get()
                if item is _DONE:
                    running -= 1
                elif isinstance(item, Exception):
                    raise item
                elif item is HEARTBEAT:
                    if run_id == self._root:
                        yield HEARTBEAT
                else:
                    assert isinstance(item, list)
                    running += self._discover(item)
                    self._advance(run_id, item[-1].seq)
                    yield TreeEvents(item, self._cursor.encode())
        finally:
            for task in self._pumps.values():
                task.cancel()
            for task in self._pumps.values():
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    def _advance(self, run_id: str, seq: int) -> None:
        if run_id == self._root:
            self._cursor.root = seq
        else:
            self._cursor.below[run_id] = seq

    def _discover(self, batch: list[StoredEvent]) -> int:
        """Follow the children these events announce; how many new pumps started."""
        started = 0
        for event in batch:
            if event.type != "subagent.started":
                continue
            child = orjson.loads(event.data)["child_run_id"]
            if child not in self._pumps:
                self._add(child, self._cursor.below.get(child, 0))
                started += 1
        return started

    def _add(self, run_id: str, after: int) -> None:
        self._pumps[run_id] = asyncio.create_task(self._pump(run_id, after))

    async def _pump(self, run_id: str, after: int) -> None:
        try:
            async for batch in follow_events(self._ctx, run_id, after):
                await self._queue.put((run_id, batch))
        except Exception as error:  # noqa: BLE001 - raised again by the stream, as one run's would
            await self._queue.put((run_id, error))
            return
        await self._queue.put((run_id, _DONE))
