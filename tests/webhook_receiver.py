"""An HTTP endpoint for webhook tests: it records what Corral delivers and answers as told."""

from __future__ import annotations

import asyncio
from typing import Any

from aiohttp import web
from standardwebhooks import Webhook

from tests.conftest import free_port


class Receiver:
    """An HTTP endpoint on 127.0.0.1 that records what it is sent and answers `status`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        self.received.append((dict(request.headers), await request.read()))
        return web.Response(status=self.status)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def until(self, count: int, timeout_s: float = 15) -> None:
        for _ in range(int(timeout_s / 0.05)):
            if len(self.received) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.received)} deliveries arrived, not {count}")


def verified(secret: str, headers: dict[str, str], body: bytes) -> Any:
    lowered = {name.lower(): value for name, value in headers.items()}
    return Webhook(secret).verify(body, lowered)
