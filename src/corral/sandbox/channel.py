"""The worker's end of an environment's channel: one request at a time, answers distrusted.

Answers come from a process the agent can control, so each is checked before use: its frame
must fit the bounds the request allows, its head must be a JSON object answering that request.
So are the progress frames a request may ask for (the output of a running command): only then,
each with bytes, all together within the request's budget. Anything else is a `ChannelBroken`,
after which the environment is not used again.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from corral.sandbox.inside import protocol

__all__ = ["MAX_ANSWER_HEAD_BYTES", "Answer", "Channel", "ChannelBroken", "Progress"]

MAX_ANSWER_HEAD_BYTES = 4 << 20
"""Largest answer head accepted: outputs are bounded far below this inside."""
_MAX_PROGRESS_HEAD_BYTES = 64
"""Largest head of a progress frame, which says no more than `{"id":N,"progress":true}`."""


class ChannelBroken(Exception):
    """The environment closed its channel or answered out of protocol."""


@dataclass(frozen=True, kw_only=True)
class Progress:
    """Where a request's progress frames go, and how many bytes they may carry in all."""

    receive: Callable[[bytes], None]
    max_bytes: int


@dataclass(frozen=True, kw_only=True)
class Answer:
    """An answer from the tool server: whether the request succeeded, its fields, its bytes."""

    ok: bool
    error: str | None
    fields: dict[str, Any]
    payload: bytes = b""

    def text(self, name: str) -> str:
        """A string field (empty when absent or of another type)."""
        value = self.fields.get(name)
        return value if isinstance(value, str) else ""

    def number(self, name: str) -> int | None:
        """An integer field, or None."""
        value = self.fields.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) else None


class Channel:
    """Requests to one tool server over a connected socket."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        carrier: socket.socket,
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._carrier = carrier
        self._ids = itertools.count(1)
        self._lock = asyncio.Lock()

    @classmethod
    async def connect(cls, sock: socket.socket, carrier: socket.socket) -> Channel:
        """Wrap the worker's ends of the channel and of the descriptor carrier."""
        reader, writer = await asyncio.open_unix_connection(sock=sock, limit=1 << 20)
        carrier.setblocking(False)
        return cls(reader, writer, carrier)

    async def send_raw(self, frame: bytes) -> None:
        """Write a prepared frame (the code bundle) without waiting for an answer."""
        self._writer.write(frame)
        await self._writer.drain()

    async def request(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        *,
        payload: bytes = b"",
        max_payload: int = 0,
        fds: Sequence[int] = (),
        progress: Progress | None = None,
    ) -> Answer:
        """Send one request and read its answer (and, given `progress`, its progress frames).

        Raises:
            ChannelBroken: the channel closed, or the answer broke the protocol.
        """
        async with self._lock:
            request_id = next(self._ids)
            if fds:
                try:
                    socket.send_fds(self._carrier, [b"F"], list(fds))
                except OSError as error:
                    raise ChannelBroken(f"cannot pass descriptors: {error}") from None
            head = {"id": request_id, "op": op, **(fields or {})}
            try:
                self._writer.write(protocol.request(head, payload))
                await self._writer.drain()
                return await self._answer(request_id, max_payload, progress)
            except (OSError, asyncio.IncompleteReadError) as error:
                raise ChannelBroken(f"the channel closed ({type(error).__name__})") from None

    async def _answer(self, request_id: int, max_payload: int, progress: Progress | None) -> Answer:
        left = progress.max_bytes if progress is not None else 0
        while True:
            header = await self._reader.readexactly(protocol.HEADER_BYTES)
            head_bytes, payload_bytes = protocol.lengths(header)
            if head_bytes > MAX_ANSWER_HEAD_BYTES or payload_bytes > max(max_payload, left):
                size = head_bytes + payload_bytes
                raise ChannelBroken(f"an answer of {size} bytes is out of bounds")
            raw = await self._reader.readexactly(head_bytes)
            payload = await self._reader.readexactly(payload_bytes) if payload_bytes else b""
            try:
                head = orjson.loads(raw)
            except orjson.JSONDecodeError:
                raise ChannelBroken("an answer is not JSON") from None
            if not isinstance(head, dict) or head.get("id") != request_id:
                raise ChannelBroken("an answer does not match its request")
            if head.get("progress") is not True:
                break
            # Each frame carries bytes, so the budget bounds their number too.
            small = head_bytes <= _MAX_PROGRESS_HEAD_BYTES
            if progress is None or not small or not 0 < payload_bytes <= left:
                raise ChannelBroken("a progress frame is out of bounds")
            left -= payload_bytes
            progress.receive(payload)
        if payload_bytes > max_payload:
            raise ChannelBroken(f"an answer of {head_bytes + payload_bytes} bytes is out of bounds")
        ok = head.pop("ok", None) is True
        error = head.pop("error", None)
        head.pop("id", None)
        if not ok and not isinstance(error, str):
            error = "the tool server failed without saying why"
        return Answer(ok=ok, error=error if not ok else None, fields=head, payload=payload)

    def close(self) -> None:
        """Close both sockets; a tool server sees its channel end and exits."""
        self._writer.close()
        self._carrier.close()
