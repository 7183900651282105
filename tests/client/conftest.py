"""The SDK against a real server, shared by the package: `Corral` / `AsyncCorral` on it.

One server (SQLite) serves every test of this package, in one event loop; each test gets a
workspace of its own, so it sees only its own agents, runs and sessions, as a real tenant would.
A test that needs its own server (another backend, say) starts one from `settings`.

The server runs in the test's event loop, so the sync client, which blocks, is driven from a
thread. `sdk` hides that difference: every call through it is awaited, in a thread for the
sync client and directly for the async one, so one test body checks both flavours.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from pytest_asyncio import is_async_test

from corral.client import AsyncCorral, Corral
from corral.services import auth
from corral.settings import Settings
from tests.client.proxy import FaultyProxy
from tests.conftest import ADMIN_KEY, LiveServer

HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run this package's async tests in one loop: the one the shared server lives in."""
    in_package_loop = pytest.mark.asyncio(loop_scope="package")
    for item in items:
        if is_async_test(item) and item.path.is_relative_to(HERE):
            item.add_marker(in_package_loop, append=False)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """SQLite unless a test asks for more with `parametrize("backend", BACKENDS, indirect=True)`.

    The SDK talks HTTP, and `tests/api` already runs the server on every backend; the few client
    tests that depend on timing across a backend start a server of their own on each.
    """
    return str(getattr(request, "param", "sqlite"))


@pytest_asyncio.fixture(scope="package", loop_scope="package")
async def server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """The started server every test of the package talks to (settings as `make_settings`)."""
    directory = tmp_path_factory.mktemp("client")
    settings = Settings(
        data_dir=directory / "data",
        database_url=f"sqlite:///{directory / 'corral.db'}",
        bootstrap_key=ADMIN_KEY,
        lease_s=2.0,
        poll_interval_s=0.2,
        resync_s=1.0,
        shutdown_grace_s=0.0,
        key_cache_s=0.0,
        rate_limit_per_minute=0,
        workspace_rate_limit_per_minute=0,
        submits_per_minute=0,
    )
    async with LiveServer(settings) as started:
        yield started


async def new_workspace(server: LiveServer, *, scopes: list[str] | None = None) -> str:
    """The key of a new workspace on the server (admin unless `scopes` says otherwise)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    _, key = await auth.create_workspace(server.app.state.ctx, name, scopes=scopes)
    return key


@pytest_asyncio.fixture(loop_scope="package")
async def api_key(server: LiveServer) -> str:
    """The admin key of this test's own workspace."""
    return await new_workspace(server)


@pytest.fixture
def corral(server: LiveServer, api_key: str) -> Iterator[Corral]:
    """A sync client of the server (call it from a thread: the server runs in this loop)."""
    with Corral(base_url=server.base_url, api_key=api_key) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="package")
async def acorral(server: LiveServer, api_key: str) -> AsyncIterator[AsyncCorral]:
    """An async client of the server."""
    async with AsyncCorral(base_url=server.base_url, api_key=api_key) as client:
        yield client


class Awaited:
    """The SDK with every method call awaited, whichever flavour is underneath.

    `await sdk.runs.create(...)` runs `Corral.runs.create` in a thread, or awaits
    `AsyncCorral.runs.create`. Resources nest; other attributes come back as they are.
    """

    def __init__(self, target: Any, *, is_async: bool) -> None:
        self._target = target
        self.is_async = is_async

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._target, name)
        if inspect.ismethod(value):
            return self._awaited(value)
        return self._wrap(value)

    def _wrap(self, value: Any) -> Any:
        """Clients and resources come back wrapped, everything else as it is."""
        is_client = isinstance(value, Corral | AsyncCorral)
        if is_client or type(value).__module__.startswith("corral.client.resources"):
            return Awaited(value, is_async=self.is_async)
        return value

    def _awaited(self, method: Callable[..., Any]) -> Callable[..., Any]:
        async def call(*args: Any, **kwargs: Any) -> Any:
            if not self.is_async:
                return self._wrap(await asyncio.to_thread(method, *args, **kwargs))
            result = method(*args, **kwargs)
            return self._wrap(await result if inspect.isawaitable(result) else result)

        return call


async def drain(iterable: Any) -> list[Any]:
    """Every item of a page or a stream of either flavour; a sync one is read in a thread.

    A stream is read inside its `with` block, as callers are meant to.
    """
    if hasattr(iterable, "__aenter__"):
        async with iterable:
            return [item async for item in iterable]
    if hasattr(iterable, "__aiter__"):
        return [item async for item in iterable]
    if hasattr(iterable, "__enter__"):

        def read() -> list[Any]:
            with iterable:
                return list(iterable)

        return await asyncio.to_thread(read)
    return await asyncio.to_thread(list, iterable)


async def first(stream: Any, predicate: Callable[[Any], bool]) -> Any:
    """The first event of a stream of either flavour that satisfies `predicate`."""
    if hasattr(stream, "__aenter__"):
        async with stream:
            async for event in stream:
                if predicate(event):
                    return event
        raise AssertionError("the stream ended first")

    def read() -> Any:
        with stream:
            for event in stream:
                if predicate(event):
                    return event
        raise AssertionError("the stream ended first")

    return await asyncio.to_thread(read)


@contextlib.asynccontextmanager
async def awaited_client(
    flavour: str, base_url: str, *, api_key: str, **options: Any
) -> AsyncIterator[Awaited]:
    """A `Corral` (`flavour="sync"`) or `AsyncCorral` on `base_url`, seen through `Awaited`."""
    if flavour == "sync":
        with Corral(base_url=base_url, api_key=api_key, **options) as client:
            yield Awaited(client, is_async=False)
    else:
        async with AsyncCorral(base_url=base_url, api_key=api_key, **options) as aclient:
            yield Awaited(aclient, is_async=True)


OpenClient = Callable[..., AbstractAsyncContextManager[Awaited]]


@pytest.fixture(params=["sync", "async"])
def flavour(request: pytest.FixtureRequest) -> str:
    """`sync` or `async`: a test that takes it runs with each client."""
    return str(request.param)


@pytest.fixture
def open_client(flavour: str, api_key: str) -> OpenClient:
    """Opens a client of the current flavour with this test's key: `async with` it on a URL."""
    return functools.partial(awaited_client, flavour, api_key=api_key)


@pytest_asyncio.fixture(loop_scope="package")
async def sdk(open_client: OpenClient, server: LiveServer) -> AsyncIterator[Awaited]:
    """The client of the current flavour on the server."""
    async with open_client(server.base_url) as client:
        yield client


@pytest_asyncio.fixture(loop_scope="package")
async def proxy(server: LiveServer) -> AsyncIterator[FaultyProxy]:
    """A misbehaving proxy in front of the server."""
    async with FaultyProxy(server.port) as started:
        yield started
