"""Server-sent events: frames built straight from stored event documents, with keep-alives.

Each batch the log yields goes out as one chunk, so a replay costs a few writes, not one per
event.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import TypeVar

from starlette.responses import StreamingResponse

from corral.services.event_tree import TreeEvents
from corral.storage.events import SessionEvent, StoredEvent

E = TypeVar("E", StoredEvent, SessionEvent)

KEEPALIVE = b": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(event_id: int, event_type: str, data: str) -> bytes:
    """One SSE frame; `data` is a single-line JSON document."""
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


async def _frames(
    batches: AsyncIterator[Sequence[E] | None], cursor: Callable[[E], int]
) -> AsyncIterator[bytes]:
    yield b": stream open\n\n"
    async for batch in batches:
        if batch is None:
            yield KEEPALIVE
        else:
            yield b"".join(frame(cursor(e), e.type, e.data) for e in batch)


def run_stream(events: AsyncIterator[list[StoredEvent] | None]) -> StreamingResponse:
    """The SSE response of a run's events (frame id: the event seq)."""
    return StreamingResponse(
        _frames(events, lambda e: e.seq), media_type="text/event-stream", headers=HEADERS
    )


def session_stream(events: AsyncIterator[list[SessionEvent] | None]) -> StreamingResponse:
    """The SSE response of a session's events (frame id: the session cursor)."""
    return StreamingResponse(
        _frames(events, lambda e: e.session_seq), media_type="text/event-stream", headers=HEADERS
    )


async def _tree_frames(batches: AsyncIterator[TreeEvents | None]) -> AsyncIterator[bytes]:
    yield b": stream open\n\n"
    async for batch in batches:
        if batch is None:
            yield KEEPALIVE
            continue
        *first, last = batch.events
        chunk = [f"event: {e.type}\ndata: {e.data}\n\n".encode() for e in first]
        chunk.append(f"id: {batch.cursor}\nevent: {last.type}\ndata: {last.data}\n\n".encode())
        yield b"".join(chunk)


def tree_stream(events: AsyncIterator[TreeEvents | None]) -> StreamingResponse:
    """The SSE response of a run's events and its subagents' (frame id: the tree's cursor).

    Only a batch's last frame carries the id, which stands for the whole batch.
    """
    return StreamingResponse(_tree_frames(events), media_type="text/event-stream", headers=HEADERS)
