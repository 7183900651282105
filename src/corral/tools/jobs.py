"""Background commands of a box: output appended to a bounded log file, read back by offset.

Reads hand out whole UTF-8 characters only, even while one is still half written, so a caller
polling a running job never sees a character split across two reads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from corral.tools.processes import ProcessTree


class Job:
    """A background command whose output is appended to a log file and read by offset."""

    def __init__(self, *, id: str, tree: ProcessTree, log: Path, limit: int) -> None:
        self.id = id
        self.log = log
        self._tree = tree
        self._limit = limit
        self._killed = False
        self._done = asyncio.Event()
        self._supervisor = asyncio.create_task(self._supervise())

    @property
    def is_running(self) -> bool:
        """True until the command has exited and all its output is in the log."""
        return not self._done.is_set()

    @property
    def exit_code(self) -> int | None:
        """The exit status once finished; None while running or when killed."""
        code = self._tree.proc.returncode
        if self.is_running or self._killed or code is None or code < 0:
            return None
        return code

    async def read(
        self, offset: int = 0, max_chars: int = 50_000
    ) -> tuple[str, int, bool, int | None]:
        """Output since byte `offset`: (text, next offset, still running, exit code).

        Reads about `max_chars` bytes, never splitting a character; call again from the
        returned offset for the rest.
        """
        running = self.is_running  # before reading, so a finished job's output is all there
        data = await asyncio.to_thread(_read_at, self.log, offset, max_chars + 3)
        data = _whole_characters(data, max_chars, at_end=not running)
        text = data.decode("utf-8", errors="replace")
        return text, offset + len(data), running, None if running else self.exit_code

    async def wait(self) -> int | None:
        """Wait until the job has finished; its exit code."""
        await asyncio.shield(self._supervisor)
        return self.exit_code

    async def kill(self) -> None:
        """Kill the job's whole tree and wait until it is gone."""
        if self.is_running:
            self._killed = True
            self._tree.kill()
        await asyncio.shield(self._supervisor)

    async def _supervise(self) -> None:
        written = 0
        with self.log.open("ab", buffering=0) as log:

            def append(chunk: bytes) -> None:
                nonlocal written
                if written < self._limit:
                    room = self._limit - written
                    log.write(chunk[:room])
                    if len(chunk) > room:
                        log.write(
                            f"\n[... output limit of {self._limit} bytes reached; "
                            "the rest is dropped ...]\n".encode()
                        )
                written += len(chunk)

            reader = asyncio.create_task(self._tree.drain(append))
            try:
                await self._tree.proc.wait()
                await self._tree.finish(reader)
            except asyncio.CancelledError:
                await self._tree.abandon(reader)
                raise
            finally:
                self._done.set()


def _read_at(path: Path, offset: int, size: int) -> bytes:
    try:
        with path.open("rb") as file:
            file.seek(offset)
            return file.read(size)
    except FileNotFoundError:
        return b""


def _whole_characters(data: bytes, limit: int, *, at_end: bool) -> bytes:
    """The first `limit` bytes of `data`, stretched or cut so no UTF-8 character is split."""
    if len(data) <= limit and at_end:
        return data  # nothing more will come: hand out even a broken final sequence
    cut = min(limit, len(data))
    for start in range(cut - 1, max(cut - 4, 0) - 1, -1):
        byte = data[start]
        if byte & 0xC0 == 0x80:  # a continuation byte: the character starts further back
            continue
        size = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        end = start + size
        if end <= len(data):
            return data[: max(end, cut)]
        return data[:start]
    return data[:cut]
