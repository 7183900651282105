"""Rendering input templates in a child process that can be stopped.

Jinja's sandbox keeps a template from Python's internals, but a loop inside a loop, or a huge
string, would still hold a worker for as long as it likes. Templates are therefore rendered in
a child process under a memory limit, one at a time, and a rendering that takes too long gets
the child killed (the next rendering starts a fresh one). A text without template syntax needs
none of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
from typing import Any

import orjson

from corral.domain.templates import InvalidTemplate, is_plain
from corral.storage.routine_fires import FireRecord
from corral.storage.routines import RoutineRecord

__all__ = ["Renderer", "template_values"]

LINE_LIMIT_BYTES = 64 * 1024 * 1024


class Renderer:
    """One worker's template renderer (its child process is started on first use)."""

    def __init__(self, *, max_chars: int, timeout_s: float) -> None:
        self._max_chars = max_chars
        self._timeout_s = timeout_s
        self._child: asyncio.subprocess.Process | None = None
        self._lock = asyncio.Lock()

    async def render(self, source: str, variables: dict[str, Any]) -> str:
        """`source` rendered with `variables` (JSON values).

        `InvalidTemplate` says why it could not be.
        """
        if is_plain(source):
            return source
        request = {"source": source, "variables": variables, "max_chars": self._max_chars}
        async with self._lock:
            child = await self._started()
            assert child.stdin is not None and child.stdout is not None
            child.stdin.write(orjson.dumps(request, default=str) + b"\n")
            try:
                await child.stdin.drain()
                line = await asyncio.wait_for(child.stdout.readline(), self._timeout_s)
            except TimeoutError:
                await self._stop()
                raise InvalidTemplate(
                    f"the template took longer than {self._timeout_s:g} s to render"
                ) from None
            except (ConnectionError, ValueError):
                line = b""
            if not line:
                await self._stop()
                raise InvalidTemplate("the template's rendering ended abruptly (out of memory?)")
        answer = orjson.loads(line)
        if "error" in answer:
            raise InvalidTemplate(answer["error"])
        return str(answer["text"])

    async def _started(self) -> asyncio.subprocess.Process:
        if self._child is None or self._child.returncode is not None:
            self._child = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                "from corral.services.render_child import serve; serve()",
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=LINE_LIMIT_BYTES,
            )
        return self._child

    async def _stop(self) -> None:
        child, self._child = self._child, None
        if child is not None and child.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                child.kill()
            await child.wait()

    async def close(self) -> None:
        """Stop the child process."""
        async with self._lock:
            await self._stop()


def template_values(record: RoutineRecord, fire: FireRecord) -> dict[str, Any]:
    """What the input template sees."""
    return {
        "payload": fire.payload if fire.payload is not None else {},
        "headers": fire.headers or {},
        "fire": {
            "id": fire.id,
            "trigger": fire.trigger_type,
            "scheduled_at": fire.scheduled_at.isoformat() if fire.scheduled_at else None,
            "created_at": fire.created_at.isoformat(),
            "missed": fire.missed,
        },
        "routine": {"id": record.id, "name": record.name, "metadata": record.metadata},
    }
