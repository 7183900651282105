"""A TCP proxy in front of the live server that misbehaves on demand.

It forwards bytes both ways, and can cut every open connection (now, or once a stream has sent N
bytes), answer requests itself (a 429, a 503, a connection closed without an answer, or no answer
at all), or swallow the response to a request after the server processed it. It reads nothing but
request lines, so the SDK meets the faults exactly as a real network would show them.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from dataclasses import dataclass, field
from typing import Literal

from tests.conftest import free_port

_REQUEST_LINE = re.compile(rb"^([A-Z]+) (\S+) HTTP/1\.[01]\r\n")
_CHUNK = 65536

Action = Literal["respond", "close", "hold", "drop_response"]


@dataclass
class _Rule:
    method: str
    path: str
    times: int
    action: Action
    response: bytes = b""

    def matches(self, method: str, path: str) -> bool:
        return self.times > 0 and method == self.method and path.split("?")[0] == self.path


@dataclass(eq=False)
class _Connection:
    client: asyncio.StreamWriter
    upstream: asyncio.StreamWriter | None = None
    drop_response: bool = False
    cut_after_bytes: int | None = None
    sent_bytes: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def close(self) -> None:
        for writer in (self.client, self.upstream):
            if writer is not None:
                with contextlib.suppress(Exception):
                    writer.transport.abort()


def http_response(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> bytes:
    """A complete HTTP/1.1 response that closes its connection."""
    reasons = {429: "Too Many Requests", 503: "Service Unavailable"}
    lines = [f"HTTP/1.1 {status} {reasons.get(status, 'Error')}"]
    all_headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "close",
        **(headers or {}),
    }
    lines += [f"{name}: {value}" for name, value in all_headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class FaultyProxy:
    """`async with FaultyProxy(server.port) as proxy:` then point a client at `proxy.base_url`."""

    def __init__(self, upstream_port: int, *, port: int | None = None) -> None:
        self.upstream_port = upstream_port
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.requests: list[tuple[str, str]] = []
        """Every request line seen, as `(method, path)`, including the ones answered here."""
        self._rules: list[_Rule] = []
        self._connections: set[_Connection] = set()
        self._stream_cuts: list[int] = []
        self._server: asyncio.Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> FaultyProxy:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Listen (a proxy may be started late, to play a server that is not up yet)."""
        self._loop = asyncio.get_running_loop()
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)

    async def stop(self) -> None:
        """Stop listening and drop every connection."""
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.close()
            for task in connection.tasks:
                task.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    def respond(
        self,
        method: str,
        path: str,
        *,
        status: int,
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        times: int = 1,
    ) -> None:
        """Answer the next `times` matching requests here, with this response."""
        response = http_response(status, body, headers)
        self._rules.append(_Rule(method, path, times, "respond", response))

    def close_without_response(self, method: str, path: str, *, times: int = 1) -> None:
        """Close the connections of the next `times` matching requests, unanswered."""
        self._rules.append(_Rule(method, path, times, "close"))

    def hold(self, method: str, path: str, *, times: int = 1) -> None:
        """Never answer the next `times` matching requests (the client times out)."""
        self._rules.append(_Rule(method, path, times, "hold"))

    def drop_response(self, method: str, path: str, *, times: int = 1) -> None:
        """Forward the next `times` matching requests, then close instead of answering."""
        self._rules.append(_Rule(method, path, times, "drop_response"))

    def cut_streams_after(self, byte_count: int, *, times: int = 1) -> None:
        """Cut each of the next `times` event streams after `byte_count` bytes of its response."""
        self._stream_cuts.extend([byte_count] * times)

    def cut(self) -> None:
        """Cut every open connection; safe to call from any thread."""
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._cut_now)

    def count(self, method: str, path: str) -> int:
        """How many requests for `path` (without the query) arrived."""
        return sum(1 for m, p in self.requests if m == method and p.split("?")[0] == path)

    def _cut_now(self) -> None:
        for connection in list(self._connections):
            connection.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = _Connection(client=writer)
        self._connections.add(connection)
        try:
            upstream_reader, connection.upstream = await asyncio.open_connection(
                "127.0.0.1", self.upstream_port
            )
            connection.tasks = [
                asyncio.create_task(self._to_server(connection, reader)),
                asyncio.create_task(self._to_client(connection, upstream_reader)),
            ]
            await asyncio.wait(connection.tasks, return_when=asyncio.FIRST_COMPLETED)
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            connection.close()
            for task in connection.tasks:
                task.cancel()
            self._connections.discard(connection)

    async def _to_server(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        assert connection.upstream is not None
        while chunk := await reader.read(_CHUNK):
            request = _REQUEST_LINE.match(chunk)
            rule = self._on_request(connection, request) if request is not None else None
            if rule is not None and rule.action == "respond":
                await self._answer_here(connection.client, reader, rule.response)
                return
            if rule is not None and rule.action == "close":
                return
            if rule is not None and rule.action == "hold":
                while await reader.read(_CHUNK):
                    pass
                return
            connection.upstream.write(chunk)
            await connection.upstream.drain()

    def _on_request(self, connection: _Connection, request: re.Match[bytes]) -> _Rule | None:
        """Note a new request; the rule that applies to it, if any."""
        method, path = request.group(1).decode(), request.group(2).decode()
        self.requests.append((method, path))
        if method == "GET" and path.split("?")[0].endswith("/stream") and self._stream_cuts:
            connection.cut_after_bytes = self._stream_cuts.pop(0)
        rule = next((r for r in self._rules if r.matches(method, path)), None)
        if rule is not None:
            rule.times -= 1
            connection.drop_response = rule.action == "drop_response"
        return rule

    @staticmethod
    async def _answer_here(
        client: asyncio.StreamWriter, reader: asyncio.StreamReader, response: bytes
    ) -> None:
        """Send `response`, then wait for the client to hang up.

        Closing first could reset the connection before the client read the answer.
        """
        client.write(response)
        await client.drain()
        with contextlib.suppress(OSError, TimeoutError):
            client.write_eof()
            async with asyncio.timeout(2):
                while await reader.read(_CHUNK):
                    pass

    async def _to_client(self, connection: _Connection, reader: asyncio.StreamReader) -> None:
        while chunk := await reader.read(_CHUNK):
            if connection.drop_response:
                return
            if connection.cut_after_bytes is not None:
                room = connection.cut_after_bytes - connection.sent_bytes
                if len(chunk) >= room:
                    connection.client.write(chunk[:room])
                    await connection.client.drain()
                    return
            connection.sent_bytes += len(chunk)
            connection.client.write(chunk)
            await connection.client.drain()
