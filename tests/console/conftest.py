"""Browser tests of the console: a real server, Debian's Chromium driven by Playwright.

Nothing is downloaded: Playwright drives the system's `chromium` (`.ci/run` installs it).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright

from corral.settings import Settings
from tests.conftest import ADMIN_KEY, LiveServer

CHROMIUM = os.environ.get("CORRAL_TEST_CHROMIUM") or shutil.which("chromium")


@pytest.fixture
def backend() -> str:
    """The console is a client of the API, whose storage the API tests cover on both databases."""
    return "sqlite"


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if CHROMIUM is None:
        pytest.skip("the console tests need Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Leases long enough that a busy machine's stall does not stop a run's environment.

    These tests watch runs in a browser, not takeovers (tests/e2e has those).
    """
    return make_settings(lease_s=10.0)


@pytest.fixture
async def server(settings: Settings) -> AsyncIterator[LiveServer]:
    async with LiveServer(settings) as started:
        yield started


class CuttableProxy:
    """A TCP proxy in front of the server whose open connections can be cut, as a network drop."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.Server | None = None
        self.base_url = ""

    async def __aenter__(self) -> CuttableProxy:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self.server is not None
        self.server.close()

    def cut(self) -> None:
        """Drops every connection open now; later ones go through."""
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection("127.0.0.1", self.target)
        self.writers.update((writer, upstream_writer))

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            try:
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                sink.transport.abort()

        await asyncio.gather(pipe(reader, upstream_writer), pipe(upstream_reader, writer))


@pytest.fixture
async def proxy(server: LiveServer) -> AsyncIterator[CuttableProxy]:
    async with CuttableProxy(server.port) as started:
        yield started


Opener = Callable[..., Awaitable[Page]]


@pytest.fixture
async def open_console(browser: Browser, server: LiveServer) -> AsyncIterator[Opener]:
    """Opens a console page at a path, signed in with `key` (the admin key unless told)."""
    contexts = []

    async def open_page(
        path: str = "/", key: str | None = ADMIN_KEY, base_url: str | None = None, **options: Any
    ) -> Page:
        context = await browser.new_context(base_url=base_url or server.base_url, **options)
        contexts.append(context)
        if key is not None:
            # What the sign-in form keeps, put there before the page's own script runs.
            await context.add_init_script(
                f"sessionStorage.setItem('corral.key', {json.dumps(key)})"
            )
        page = await context.new_page()
        page.on("pageerror", lambda error: uncaught.append(f"{path}: {error}"))
        await page.goto(path)
        return page

    uncaught: list[str] = []
    yield open_page
    for context in contexts:
        await context.close()
    assert uncaught == [], "the console's script threw"
