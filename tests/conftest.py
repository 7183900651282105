"""Shared fixtures: real databases (SQLite and PostgreSQL), the app, API clients, a live server."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import uvicorn

from corral.api.app import create_app
from corral.process import build_context
from corral.settings import Settings
from corral.storage import migrate
from corral.storage.database import Database
from tests import migrated
from tests.events_schema import assert_stored_events_match_the_wire_schema

pytest_plugins = ["tests.machine", "tests.openapi_document"]

ADMIN_KEY = "crl_test_admin_key_0123456789abcdefghijklmnopqrstuvwxyz"
PG_URL = os.environ.get("CORRAL_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
REDIS_URL = os.environ.get("CORRAL_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]


@pytest.fixture(autouse=True)
def _clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests build their settings explicitly; nothing leaks in from the environment."""
    for name in list(os.environ):
        if name.startswith("CORRAL_") and not name.startswith("CORRAL_TEST_"):
            monkeypatch.delenv(name)
        elif name.endswith(("_API_KEY", "_BASE_URL")):
            monkeypatch.delenv(name)  # provider keys and endpoints of the machine running tests


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """`sqlite` or `postgres`: every storage-touching test runs on both."""
    return str(request.param)


@pytest.fixture
async def database_url(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[str, str | None]]:
    """A fresh database at the newest schema: a SQLite file or a new PostgreSQL schema.

    It is a copy of one real migration (`tests/migrated.py`); tests marked `empty_database` get
    one with no tables at all. Afterwards, every event the test stored must match the wire schema
    (`tests/events_schema.py`) unless the test is marked `synthetic_events`.
    """
    check = request.node.get_closest_marker("synthetic_events") is None
    empty = request.node.get_closest_marker("empty_database") is not None
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'corral.db'}"
        if not empty:
            await migrated.copy_sqlite(tmp_path / "corral.db")
        yield url, None
        if check:
            await assert_stored_events_match_the_wire_schema(url, None)
        return
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = Database(PG_URL)
    await admin.connect()
    await admin.run_sync_admin(lambda c: c.execute(sa.text(f'CREATE SCHEMA "{schema}"')))
    try:
        if not empty:
            await migrated.replay_postgres(PG_URL, schema)
        yield PG_URL, schema
        if check:
            await assert_stored_events_match_the_wire_schema(PG_URL, schema)
    finally:
        await admin.run_sync_admin(
            lambda c: c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        )
        await admin.close()


@pytest.fixture
async def database(database_url: tuple[str, str | None]) -> AsyncIterator[Database]:
    """A connected database at the newest schema."""
    url, schema = database_url
    db = Database(url, schema=schema)
    await db.connect()
    await migrate.upgrade(db)  # a migration test's empty database; otherwise finds nothing to do
    try:
        yield db
    finally:
        await db.close()


MCP_SERVERS = Path(__file__).parent / "tools" / "mcp_servers"


@pytest.fixture
def make_settings(database_url: tuple[str, str | None], tmp_path: Path) -> Callable[..., Settings]:
    """Settings for a test server on the test database; keyword arguments override."""
    url, schema = database_url

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "data_dir": tmp_path / "data",
            "database_url": url,
            "database_schema": schema,
            "bootstrap_key": ADMIN_KEY,
            "lease_s": 2.0,
            "poll_interval_s": 0.2,
            "resync_s": 1.0,
            "shutdown_grace_s": 0.0,
            "key_cache_s": 0.0,
            # Tests call fast and often; tests/api/test_rate_limits.py sets limits of its own.
            "rate_limit_per_minute": 0,
            "workspace_rate_limit_per_minute": 0,
            "submits_per_minute": 0,
            # Local MCP test servers run in environments with the test virtualenv's packages.
            "sandbox_mounts": [Path(sys.prefix), MCP_SERVERS],
        }
        values.update(overrides)
        return Settings(**values)

    return make


@pytest.fixture
def priced_catalog(tmp_path: Path) -> Path:
    """A model catalog whose `test` model costs $10 per million output tokens (input is free)."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n"
        "  - {id: test, provider: corral, api: test, context_window: 1000000,\n"
        "     pricing: {input: 0.0, output: 10.0}}\n"
    )
    return catalog


@pytest.fixture
async def receiver() -> AsyncIterator[Any]:
    """A webhook endpoint on 127.0.0.1 that records what it is sent (a `Receiver`)."""
    from tests.webhook_receiver import Receiver  # it takes `free_port` from here

    found = Receiver()
    await found.start()
    yield found
    await found.stop()


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    """Default test settings."""
    return make_settings()


@contextlib.asynccontextmanager
async def running_app(settings: Settings) -> AsyncIterator[Any]:
    """The app with its lifespan (migrations, bootstrap, embedded worker) running."""
    app = create_app(settings, ctx=build_context(settings))
    async with app.router.lifespan_context(app):
        yield app


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    """The application, started."""
    async with running_app(settings) as started:
        yield started


def api_client(app: Any, key: str | None = ADMIN_KEY) -> httpx.AsyncClient:
    """An in-process client of `app` authenticated with `key`."""
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://corral.test", headers=headers
    )


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    """An admin API client of the in-process app."""
    async with api_client(app) as c:
        yield c


def free_port() -> int:
    """A TCP port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class LiveServer:
    """A real uvicorn server in the test's event loop (streams need a real socket)."""

    def __init__(self, settings: Settings) -> None:
        self.port = free_port()
        self.app = create_app(settings, ctx=build_context(settings))
        config = uvicorn.Config(
            self.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on"
        )
        self.server = uvicorn.Server(config)
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> LiveServer:
        self._task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self._task.done():
                self._task.result()
            await asyncio.sleep(0.01)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        if self._task is not None:
            await self._task

    def client(self, key: str | None = ADMIN_KEY, **kwargs: Any) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.AsyncClient(base_url=self.base_url, headers=headers, **kwargs)


@pytest.fixture
async def live_server(settings: Settings) -> AsyncIterator[LiveServer]:
    """A started server on a free port."""
    async with LiveServer(settings) as server:
        yield server
