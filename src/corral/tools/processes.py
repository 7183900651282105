"""One spawned command and everything it started, handled as a whole.

Its output pipe is drained until every writer has closed it, so grandchildren's output is kept,
and the whole tree is killed at once (cgroup and process group) before its cgroup is removed.
Spawning, and deciding when to kill, belong to the sandbox.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corral.tools import cgroups

_DRAIN_S = 1.0
"""How long output is still read after a command's tree is gone (a pipe kept open by an escapee)."""
_READ_CHUNK = 65_536


@dataclass(kw_only=True)
class ProcessTree:
    """One spawned command, everything it started, and the pipe carrying its output."""

    proc: asyncio.subprocess.Process
    group: cgroups.Group | None
    output_fd: int
    oom_killed: bool = False

    async def drain(self, sink: Callable[[bytes], None]) -> None:
        """Pass the output to `sink` chunk by chunk until every writer has closed the pipe."""
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader(limit=_READ_CHUNK)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(self.output_fd, "rb", 0)
        )
        try:
            while chunk := await reader.read(_READ_CHUNK):
                sink(chunk)
        finally:
            transport.close()

    async def feed(self, data: str) -> None:
        """Write `data` to the command's stdin, then close it."""
        stdin = self.proc.stdin
        assert stdin is not None
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            stdin.write(data.encode())
            await stdin.drain()
            stdin.close()

    def kill(self) -> None:
        """SIGKILL the whole tree at once; synchronous so it also works while being cancelled."""
        if self.group is not None:
            self.group.kill()
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def finish(self, reader: asyncio.Task[None]) -> None:
        """After the command exited or timed out: kill what is left, collect output, clean up."""
        self.kill()
        await self.proc.wait()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(reader), _DRAIN_S)
        reader.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        if self.group is not None:
            self.oom_killed = self.group.oom_killed()
            await self.group.remove()

    async def abandon(self, reader: asyncio.Task[None]) -> None:
        """Kill the tree for a cancelled caller, and clean up even if cancelled again."""
        self.kill()
        await asyncio.shield(asyncio.ensure_future(self.finish(reader)))
