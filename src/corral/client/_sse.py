"""Server-sent events: a sans-I/O decoder, and streams that resume where they broke off.

A stream remembers the id of the last frame it yielded. When the connection drops, or the
server closes it before the stream is over, it reconnects with `Last-Event-ID` and skips any
frame it already yielded, so the caller sees every event exactly once, in order.
"""

from __future__ import annotations

import asyncio
import codecs
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, AbstractContextManager
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Generic, TypeVar

import httpx
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError

from corral.client._http import MAX_RETRY_AFTER_S, should_retry_status, url_of
from corral.client.errors import APIConnectionError, APIStatusError, RateLimitError
from corral.types.events import Event

T = TypeVar("T")

RECONNECT_DELAYS_S = (0.0, 0.25, 0.5, 1.0, 2.0, 4.0)
"""Waits before successive reconnects without progress; then the stream gives up."""


@dataclass(frozen=True, slots=True)
class ServerSentEvent:
    """One frame of an event stream."""

    id: str | None
    event: str | None
    data: str


class SSEDecoder:
    """Bytes in, frames out; chunks may split lines and characters anywhere."""

    def __init__(self) -> None:
        self._text = codecs.getincrementaldecoder("utf-8")()
        self._pending = ""
        self._data: list[str] = []
        self._event: str | None = None
        self._id: str | None = None

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """The frames completed by `chunk`."""
        self._pending += self._text.decode(chunk)
        frames: list[ServerSentEvent] = []
        while True:
            line, ending, rest = _split_line(self._pending)
            if ending is None:
                return frames
            self._pending = rest
            frame = self._line(line)
            if frame is not None:
                frames.append(frame)

    def _line(self, line: str) -> ServerSentEvent | None:
        if not line:
            if not self._data and self._event is None:
                return None
            frame = ServerSentEvent(id=self._id, event=self._event, data="\n".join(self._data))
            self._data, self._event = [], None
            return frame
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None


def _split_line(text: str) -> tuple[str, str | None, str]:
    """The first line of `text`, its ending (None if incomplete), and the rest."""
    for index, char in enumerate(text):
        if char == "\n":
            return text[:index], "\n", text[index + 1 :]
        if char == "\r":
            if index + 1 == len(text):
                return text, None, ""  # a lone CR may be the first half of CRLF
            skip = 2 if text[index + 1] == "\n" else 1
            return text[:index], "\r", text[index + skip :]
    return text, None, ""


class UnknownEvent(BaseModel):
    """An event of a type this SDK does not know yet (newer servers may add types)."""

    model_config = ConfigDict(extra="allow")

    seq: int
    type: str
    run_id: str
    created_at: str


AnyEvent = Event | UnknownEvent
_EVENT = TypeAdapter(Event)


def parse_event(data: str) -> AnyEvent:
    """A typed event from a frame's JSON."""
    try:
        return _EVENT.validate_json(data)
    except ValidationError:
        return UnknownEvent.model_validate_json(data)


def parse_event_document(document: dict[str, Any]) -> AnyEvent:
    """A typed event from its parsed JSON document."""
    try:
        return _EVENT.validate_python(document)
    except ValidationError:
        return UnknownEvent.model_validate(document)


def _newer(frame_id: str | None, last_id: str | None) -> bool:
    if frame_id is None or last_id is None:
        return True
    try:
        return int(frame_id) > int(last_id)
    except ValueError:
        return frame_id != last_id


class _StreamState:
    """What the sync and async streams share: the cursor and the reconnect budget."""

    def __init__(self, last_id: str | None, *, by_id: bool = True) -> None:
        self.last_id = last_id
        self.failures = 0
        self.by_id = by_id
        """Whether a frame's id tells a repeat (otherwise the stream's `keep` does)."""

    def headers(self) -> dict[str, str]:
        return {"Last-Event-ID": self.last_id} if self.last_id is not None else {}

    def accept(self, frame: ServerSentEvent) -> bool:
        """Whether `frame` is new; remembers it."""
        if self.by_id and not _newer(frame.id, self.last_id):
            return False
        if frame.id is not None:
            self.last_id = frame.id
        self.failures = 0
        return True

    def next_delay_s(self, cause: BaseException | None) -> float:
        """The wait before the next reconnect, or raise once the budget is spent.

        A 429 is waited out for as long as its `Retry-After` says.
        """
        if self.failures >= len(RECONNECT_DELAYS_S):
            url = url_of(cause) if isinstance(cause, httpx.TransportError) else None
            where = f" at {url}" if url else ""
            why = f": {cause}" if cause is not None and str(cause) else ""
            raise APIConnectionError(
                f"the event stream{where} keeps breaking off{why}", url=url
            ) from cause
        delay = RECONNECT_DELAYS_S[self.failures]
        self.failures += 1
        if isinstance(cause, RateLimitError) and cause.retry_after_s is not None:
            return max(delay, min(cause.retry_after_s, MAX_RETRY_AFTER_S))
        return delay


def _worth_reconnecting(error: APIStatusError) -> bool:
    """A server error or a 429 passes; any other refusal would be refused again."""
    return error.status >= 500 or should_retry_status(error.status)


Connect = Callable[[dict[str, str]], AbstractContextManager[httpx.Response]]
AsyncConnect = Callable[[dict[str, str]], AbstractAsyncContextManager[httpx.Response]]
RaiseForStatus = Callable[[httpx.Response], None]


class Stream(Generic[T]):
    """A resumable event stream: `with client.runs.stream(run_id) as stream: for e in stream`."""

    def __init__(
        self,
        *,
        connect: Connect,
        raise_for_status: RaiseForStatus,
        parse: Callable[[ServerSentEvent], T],
        is_last: Callable[[T], bool],
        is_over: Callable[[], bool],
        after: str | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        self._connect = connect
        self._keep = keep
        self._raise_for_status = raise_for_status
        self._parse = parse
        self._is_last = is_last
        self._is_over = is_over
        self._state = _StreamState(after, by_id=keep is None)
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """Id of the last frame yielded: pass it as `after` to resume later."""
        return self._state.last_id

    def __iter__(self) -> Iterator[T]:
        while not self._closed:
            cause: BaseException | None = None
            try:
                for item in self._one_connection():
                    if self._keep is not None and not self._keep(item):
                        continue
                    yield item
                    if self._is_last(item):
                        return
            except (httpx.TransportError, APIStatusError) as error:
                if isinstance(error, APIStatusError) and not _worth_reconnecting(error):
                    raise
                cause = error
            if self._closed or self._is_over():
                return
            time.sleep(self._state.next_delay_s(cause))

    def _one_connection(self) -> Iterator[T]:
        with self._connect(self._state.headers()) as response:
            if response.is_error:
                response.read()
                self._raise_for_status(response)
            decoder = SSEDecoder()
            for chunk in response.iter_bytes():
                for frame in decoder.feed(chunk):
                    if self._state.accept(frame):
                        yield self._parse(frame)

    def __enter__(self) -> Stream[T]:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop streaming (leaving the `with` block does this)."""
        self._closed = True


class AsyncStream(Generic[T]):
    """The async twin of `Stream`: `async with … as stream: async for e in stream`."""

    def __init__(
        self,
        *,
        connect: AsyncConnect,
        raise_for_status: RaiseForStatus,
        parse: Callable[[ServerSentEvent], T],
        is_last: Callable[[T], bool],
        is_over: Callable[[], Any],
        after: str | None = None,
        keep: Callable[[T], bool] | None = None,
    ) -> None:
        self._connect = connect
        self._keep = keep
        self._raise_for_status = raise_for_status
        self._parse = parse
        self._is_last = is_last
        self._is_over = is_over
        self._state = _StreamState(after, by_id=keep is None)
        self._closed = False

    @property
    def last_event_id(self) -> str | None:
        """Id of the last frame yielded: pass it as `after` to resume later."""
        return self._state.last_id

    async def __aiter__(self) -> AsyncIterator[T]:
        while not self._closed:
            cause: BaseException | None = None
            try:
                async for item in self._one_connection():
                    if self._keep is not None and not self._keep(item):
                        continue
                    yield item
                    if self._is_last(item):
                        return
            except (httpx.TransportError, APIStatusError) as error:
                if isinstance(error, APIStatusError) and not _worth_reconnecting(error):
                    raise
                cause = error
            if self._closed or await self._is_over():
                return
            await asyncio.sleep(self._state.next_delay_s(cause))

    async def _one_connection(self) -> AsyncIterator[T]:
        async with self._connect(self._state.headers()) as response:
            if response.is_error:
                await response.aread()
                self._raise_for_status(response)
            decoder = SSEDecoder()
            async for chunk in response.aiter_bytes():
                for frame in decoder.feed(chunk):
                    if self._state.accept(frame):
                        yield self._parse(frame)

    async def __aenter__(self) -> AsyncStream[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop streaming (leaving the `async with` block does this)."""
        self._closed = True
