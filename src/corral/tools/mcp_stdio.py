"""The stdio transport of a local MCP server that runs inside the run's environment.

The environment's tool server starts the server with three pipes the worker made; this module
speaks newline-delimited JSON-RPC over them and presents the streams the MCP SDK's
`ClientSession` reads and writes. The server's output is hostile input like any other: lines are
bounded, and one that is not a JSON-RPC message is passed to the session as an error.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol

import anyio
from mcp import types
from mcp.shared.message import SessionMessage

from corral.sandbox import pipes

__all__ = ["MAX_LINE_BYTES", "Launcher", "ServerPipes", "StderrTail", "environment_stdio"]

logger = logging.getLogger(__name__)

MAX_LINE_BYTES = 16 << 20
"""Longest message a server may send; a longer line ends the connection."""
_STOP_TIMEOUT_S = 5.0
_STDERR_TAIL_BYTES = 2_000


@dataclass(frozen=True)
class ServerPipes:
    """The worker's ends of a started server's standard streams."""

    stdin: int
    stdout: int
    stderr: int


class Launcher(Protocol):
    """Starts and stops stdio servers in the run's environment."""

    async def start(self, name: str, argv: list[str], env: dict[str, str]) -> ServerPipes:
        """Start `argv` with `env` on top of the environment's own; its pipes."""
        ...

    async def stop(self, name: str) -> None:
        """Stop the server and everything it started."""
        ...


class StderrTail:
    """Keeps the last bytes a stdio server wrote to stderr, to explain why it failed."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.closed = asyncio.Event()

    def feed(self, data: bytes) -> None:
        """More of the server's stderr; empty once it is closed."""
        if not data:
            self.closed.set()
        self.data += data
        del self.data[:-_STDERR_TAIL_BYTES]

    def text(self) -> str:
        """Its last few non-blank lines, joined on one line."""
        lines = self.data.decode(errors="replace").strip().splitlines()
        return " | ".join(line.strip() for line in lines[-5:] if line.strip())


@asynccontextmanager
async def environment_stdio(
    launcher: Launcher,
    name: str,
    argv: list[str],
    env: dict[str, str],
    on_stderr: Callable[[bytes], None] | None = None,
) -> AsyncIterator[tuple[Any, Any]]:
    """(read stream, write stream) of a server started in the environment, for `ClientSession`.

    `on_stderr` gets what the server writes to stderr, and an empty chunk once it is closed.
    """
    pipes = await launcher.start(name, argv, env)
    loop = asyncio.get_running_loop()
    stdout = asyncio.StreamReader(limit=MAX_LINE_BYTES)
    stdout_transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(stdout), os.fdopen(pipes.stdout, "rb", 0)
    )
    stdin_transport, stdin_protocol = await loop.connect_write_pipe(
        asyncio.streams.FlowControlMixin, os.fdopen(pipes.stdin, "wb", 0)
    )
    stdin = asyncio.StreamWriter(stdin_transport, stdin_protocol, None, loop)
    stderr_task = asyncio.create_task(_read_stderr(pipes.stderr, on_stderr))
    to_session, from_server = anyio.create_memory_object_stream[SessionMessage | Exception](0)
    to_server, from_session = anyio.create_memory_object_stream[SessionMessage](0)

    async def read_server() -> None:
        async with to_session:
            while True:
                try:
                    line = await stdout.readuntil(b"\n")
                except asyncio.IncompleteReadError:
                    return
                except asyncio.LimitOverrunError:
                    await to_session.send(ValueError(f"a message over {MAX_LINE_BYTES} bytes"))
                    return
                await to_session.send(_parse(line))

    async def write_server() -> None:
        async with from_session:
            async for message in from_session:
                data = message.message.model_dump_json(by_alias=True, exclude_unset=True)
                stdin.write(data.encode() + b"\n")
                await stdin.drain()

    try:
        async with anyio.create_task_group() as group:
            group.start_soon(read_server)
            group.start_soon(write_server)
            try:
                yield from_server, to_server
            finally:
                group.cancel_scope.cancel()
    finally:
        with anyio.CancelScope(shield=True):
            stdin.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(launcher.stop(name), _STOP_TIMEOUT_S)
            stdout_transport.close()
            stderr_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stderr_task
            for stream in (to_session, from_server, to_server, from_session):
                await stream.aclose()


def _parse(line: bytes) -> SessionMessage | Exception:
    try:
        return SessionMessage(types.jsonrpc_message_adapter.validate_json(line, by_name=False))
    except ValueError as error:
        return error


async def _read_stderr(fd: int, sink: Callable[[bytes], None] | None) -> None:
    """Pass what the server writes to stderr on, then an empty chunk once it is closed."""

    def keep(chunk: bytes) -> None:
        if sink is not None:
            sink(chunk[-_STDERR_TAIL_BYTES:])

    try:
        await pipes.drain(fd, keep)
    finally:
        if sink is not None:
            sink(b"")
