"""Reading a pipe on the event loop: what a child process writes, passed on as it comes."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

__all__ = ["drain"]


async def drain(fd: int, sink: Callable[[bytes], None], *, chunk_bytes: int = 4096) -> None:
    """Pass what the pipe `fd` carries to `sink`, chunk by chunk, until every writer closed it.

    The descriptor is closed at the end, also when the caller is cancelled.
    """
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    transport, _ = await loop.connect_read_pipe(
        lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", 0)
    )
    try:
        while chunk := await reader.read(chunk_bytes):
            sink(chunk)
    finally:
        transport.close()
