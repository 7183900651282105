"""Server-sent events: frames built straight from stored event documents, with keep-alives."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.responses import StreamingResponse

from corral.storage.events import SessionEvent, StoredEvent

KEEPALIVE = b": keep-alive\n\n"
HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def frame(event_id: int, event_type: str, data: str) -> bytes:
    """One SSE frame; `data` is a single-line JSON document."""
    return f"id: {event_id}\nevent: {event_type}\ndata: {data}\n\n".encode()


async def _run_frames(events: AsyncIterator[StoredEvent | None]) -> AsyncIterator[bytes]:
    yield b": stream open\n\n"
    async for event in events:
        yield KEEPALIVE if event is None else frame(event.seq, event.type, event.data)


async def _session_frames(events: AsyncIterator[SessionEvent | None]) -> AsyncIterator[bytes]:
    yield b": stream open\n\n"
    async for event in events:
        yield KEEPALIVE if event is None else frame(event.session_seq, event.type, event.data)


def run_stream(events: AsyncIterator[StoredEvent | None]) -> StreamingResponse:
    """The SSE response of a run's events (frame id: the event seq)."""
    return StreamingResponse(_run_frames(events), media_type="text/event-stream", headers=HEADERS)


def session_stream(events: AsyncIterator[SessionEvent | None]) -> StreamingResponse:
    """The SSE response of a session's events (frame id: the session cursor)."""
    return StreamingResponse(
        _session_frames(events), media_type="text/event-stream", headers=HEADERS
    )
