"""Corral as real processes: `corral serve` and `corral worker` started with `python -m corral`.

Each process writes its stdout and stderr (JSON log lines) to files under the test's `tmp_path`,
so a failing test can be debugged from them; the `cluster` fixture kills every process it
started and drops every PostgreSQL schema it created, whatever the test's outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Generator
from pathlib import Path
from typing import IO, Any

import httpx
import orjson
import pytest
import sqlalchemy as sa

from corral.storage.database import Database
from tests.conftest import ADMIN_KEY, PG_URL, REDIS_URL, free_port
from tests.events_schema import assert_stored_events_match_the_wire_schema

STARTUP_TIMEOUT_S = 20.0
"""How long a process may take to answer `/readyz` (servers) or log `worker.started`."""

KILL_TIMEOUT_S = 5.0
"""How long a process may take to disappear after SIGKILL."""

DEFAULT_SETTINGS: dict[str, Any] = {
    "bootstrap_key": ADMIN_KEY,
    "lease_s": 2,
    "poll_interval_s": 0.2,
    "resync_s": 1,
    "shutdown_grace_s": 0,
    "key_cache_s": 0,
    "log_level": "info",
}
"""Settings every process gets unless a test overrides them: short leases and polls."""


class ProcessFailed(AssertionError):
    """A process exited or did not get ready in time; the message carries its stderr tail."""


class CorralProcess:
    """One `corral` subprocess and the files its output goes to."""

    def __init__(
        self,
        *,
        name: str,
        args: list[str],
        env: dict[str, str],
        log_dir: Path,
        port: int | None,
        program: tuple[str, ...] = ("-m", "corral"),
    ) -> None:
        self.name = name
        self.args = args
        self.port = port
        self.stderr_path = log_dir / f"{name}.stderr.log"
        self.stdout_path = log_dir / f"{name}.stdout.log"
        self._stdout: IO[bytes] = self.stdout_path.open("wb")
        self._stderr: IO[bytes] = self.stderr_path.open("wb")
        try:
            self.popen = subprocess.Popen(
                [sys.executable, *program, *args],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=self._stdout,
                stderr=self._stderr,
                start_new_session=True,
            )
        except BaseException:
            self._stdout.close()
            self._stderr.close()
            raise

    @property
    def pid(self) -> int:
        return self.popen.pid

    @property
    def base_url(self) -> str:
        assert self.port is not None, f"{self.name} does not serve HTTP"
        return f"http://127.0.0.1:{self.port}"

    def client(self, **kwargs: Any) -> httpx.AsyncClient:
        """An admin client of this server (the caller closes it)."""
        kwargs.setdefault("timeout", 10.0)
        return httpx.AsyncClient(
            base_url=self.base_url, headers={"Authorization": f"Bearer {ADMIN_KEY}"}, **kwargs
        )

    # -- the log ---------------------------------------------------------------------------

    def stderr_text(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def log(self) -> list[dict[str, Any]]:
        """The JSON log lines written so far (other lines, like the banner, are skipped)."""
        records = []
        for line in self.stderr_path.read_bytes().splitlines():
            if line.startswith(b"{"):
                with contextlib.suppress(orjson.JSONDecodeError):
                    records.append(orjson.loads(line))
        return records

    def actions(self, action: str, **fields: Any) -> list[dict[str, Any]]:
        """Log records with this `action` whose fields have the given values."""
        return [
            r
            for r in self.log()
            if r.get("action") == action and all(r.get(k) == v for k, v in fields.items())
        ]

    def errors(self) -> list[dict[str, Any]]:
        """Log records at level error or above, or carrying a traceback."""
        return [
            r for r in self.log() if r.get("level") in ("error", "critical") or "exception" in r
        ]

    @property
    def worker_id(self) -> str:
        started = self.actions("worker.started")
        assert started, f"{self.name} has not logged worker.started"
        return str(started[0]["worker_id"])

    def describe(self) -> str:
        tail = "\n".join(self.stderr_text().splitlines()[-30:])
        return f"{self.name} (pid {self.pid}, exit {self.popen.poll()}); stderr tail:\n{tail}"

    async def wait_for_log(
        self, action: str, timeout_s: float = 10.0, **fields: Any
    ) -> dict[str, Any]:
        """The first log record with this action and fields, once it is written."""
        deadline = time.monotonic() + timeout_s
        while True:
            found = self.actions(action, **fields)
            if found:
                return found[0]
            self._check_alive()
            if time.monotonic() > deadline:
                raise ProcessFailed(f"no {action} {fields} within {timeout_s} s: {self.describe()}")
            await asyncio.sleep(0.05)

    # -- lifecycle -------------------------------------------------------------------------

    def _check_alive(self) -> None:
        if self.popen.poll() is not None:
            raise ProcessFailed(f"{self.name} exited: {self.describe()}")

    async def wait_ready(self, timeout_s: float = STARTUP_TIMEOUT_S) -> None:
        """Until the server answers `/readyz` with 200, or the worker logged `worker.started`."""
        if self.port is None:
            await self.wait_for_log("worker.started", timeout_s)
            return
        deadline = time.monotonic() + timeout_s
        async with httpx.AsyncClient(base_url=self.base_url, timeout=2.0) as client:
            while True:
                self._check_alive()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/readyz")).status_code == 200:
                        return
                if time.monotonic() > deadline:
                    raise ProcessFailed(f"not ready within {timeout_s} s: {self.describe()}")
                await asyncio.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: the process dies at once, in the middle of whatever it was doing."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGKILL)
        self.popen.wait(timeout=KILL_TIMEOUT_S)

    def close(self) -> None:
        """Kill the process if it still runs, and close its log files."""
        try:
            self.kill()
        finally:
            self._stdout.close()
            self._stderr.close()


class Cluster:
    """The processes and PostgreSQL schemas of one test."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.log_dir = tmp_path / "logs"
        self.log_dir.mkdir()
        self.processes: list[CorralProcess] = []
        self._schemas: list[str] = []
        self._admin: Database | None = None

    # -- environments ----------------------------------------------------------------------

    @staticmethod
    def env(**settings: Any) -> dict[str, str]:
        """`CORRAL_*` variables for `settings` over the defaults, and nothing inherited.

        Any `CORRAL_*` variable of the test's own environment is left out.
        """
        values = {**DEFAULT_SETTINGS, **settings}
        env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
        env["PYTHONUNBUFFERED"] = "1"
        for name, value in values.items():
            if value is not None:
                env[f"CORRAL_{name.upper()}"] = str(value)
        return env

    def sqlite_env(self, **settings: Any) -> dict[str, str]:
        """Settings for the default SQLite database in this test's data directory."""
        return self.env(data_dir=self.tmp_path / "data", **settings)

    async def postgres_env(self, *, broker: str = "postgres", **settings: Any) -> dict[str, str]:
        """Settings for a fresh PostgreSQL schema, woken through `broker` (postgres or redis)."""
        if self._admin is None:
            self._admin = Database(PG_URL)
            await self._admin.connect()
        schema = f"e2e_{uuid.uuid4().hex[:12]}"
        await self._admin.run_sync_admin(lambda c: c.execute(sa.text(f'CREATE SCHEMA "{schema}"')))
        self._schemas.append(schema)
        if broker == "redis":
            settings.setdefault("redis_url", REDIS_URL)
        else:
            assert broker == "postgres", broker
        return self.env(
            data_dir=self.tmp_path / "data", database_url=PG_URL, database_schema=schema, **settings
        )

    # -- processes -------------------------------------------------------------------------

    def _name(self, kind: str) -> str:
        taken = {p.name for p in self.processes}
        index = 1
        while f"{kind}-{index}" in taken:
            index += 1
        return f"{kind}-{index}"

    async def serve(self, env: dict[str, str], *, worker: bool = True) -> CorralProcess:
        """`corral serve` on a free port, ready to answer requests."""
        for _attempt in range(3):
            port = free_port()
            process = self._start(
                "serve", ["serve", "--worker" if worker else "--no-worker"], env, port=port
            )
            try:
                await process.wait_ready()
            except ProcessFailed:
                # Another program may have taken the free port between the check and the bind.
                if process.popen.poll() is not None and "address already in use" in (
                    process.stderr_text()
                ):
                    continue
                raise
            return process
        raise ProcessFailed("no free port to serve on after 3 attempts")

    async def worker(
        self, env: dict[str, str], *, program: tuple[str, ...] = ("-m", "corral")
    ) -> CorralProcess:
        """`corral worker` (or a `program` that runs it), once it has started claiming."""
        process = self._start("worker", ["worker"], env, port=None, program=program)
        await process.wait_ready()
        return process

    def _start(
        self,
        kind: str,
        args: list[str],
        env: dict[str, str],
        *,
        port: int | None,
        program: tuple[str, ...] = ("-m", "corral"),
    ) -> CorralProcess:
        env = dict(env)
        if port is not None:
            env["CORRAL_PORT"] = str(port)
            env["CORRAL_HOST"] = "127.0.0.1"
        process = CorralProcess(
            name=self._name(kind),
            args=args,
            env=env,
            log_dir=self.log_dir,
            port=port,
            program=program,
        )
        self.processes.append(process)
        return process

    async def close(self) -> None:
        """Kill every process, then drop every schema."""
        failures: list[Exception] = []
        for process in self.processes:
            try:
                process.close()
            except Exception as error:  # noqa: BLE001 - close the others first, then report
                failures.append(error)
        try:
            await self._check_stored_events()
        except AssertionError as error:
            failures.append(error)
        if self._admin is not None:
            schemas = list(self._schemas)

            def drop(conn: sa.Connection) -> None:
                for schema in schemas:
                    conn.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))

            try:
                await self._admin.run_sync_admin(drop)
            finally:
                await self._admin.close()
        if failures:
            raise failures[0]

    async def _check_stored_events(self) -> None:
        """The processes wrote only events the wire schema allows (SQLite and every schema)."""
        sqlite_file = self.tmp_path / "data" / "corral.db"
        await assert_stored_events_match_the_wire_schema(f"sqlite:///{sqlite_file}", None)
        for schema in self._schemas:
            await assert_stored_events_match_the_wire_schema(PG_URL, schema)


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    """Start Corral processes; all of them are killed when the test ends."""
    started = Cluster(tmp_path)
    try:
        yield started
    finally:
        await started.close()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """On failure, show the end of each process's stderr next to the traceback."""
    report = yield
    cluster = getattr(item, "funcargs", {}).get("cluster")
    if report.failed and isinstance(cluster, Cluster):
        for process in cluster.processes:
            report.sections.append((f"{process.stderr_path}", process.describe()))
    return report
