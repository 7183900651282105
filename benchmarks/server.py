"""The server under test: a real `corral serve` subprocess on a fresh database, and its CPU time.

The benchmark must measure what an operator runs, so the server is started exactly as the CLI
starts it (embedded worker, default settings) and is never imported into the measuring process.
Its CPU use is read from /proc (see `benchmarks.cpu`).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from benchmarks.cpu import process_cpu_s, process_memory_mb
from benchmarks.loadgen import Target

LIMIT_NEVER_REACHED = 100_000_000
"""Rate limits the benchmark's load cannot reach, so their counting is part of what is measured."""


def new_api_key() -> str:
    """A fresh bootstrap admin key: `crl_bench_` and 40 url-safe random characters."""
    return "crl_bench_" + secrets.token_urlsafe(30)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(
    process: subprocess.Popen[bytes],
    url: str,
    *,
    timeout_s: float,
    name: str,
    log_tail: Callable[[], str],
) -> None:
    """Return once `GET url` answers 200; raise with the process's last output if it never does."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited with {process.returncode}:\n{log_tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready after {timeout_s} s:\n{log_tail()}")


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> str:
    """Stop a process with SIGTERM, then SIGKILL after `timeout_s`; how it stopped."""
    if process.poll() is not None:
        return f"had already exited with {process.returncode}"
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return f"SIGKILL: still running {timeout_s:g} s after SIGTERM"
    return f"SIGTERM, exited in {time.monotonic() - started:.2f} s"


def read_tail(path: Path, lines: int = 40) -> str:
    """The last lines of a log file; empty when there is none."""
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


class ManagedProcess:
    """A subprocess used as a context manager: entering starts it, leaving stops it.

    A start that fails half-way is stopped too, so no process or temporary file outlives it.
    """

    def start(self) -> None:
        """Start the process and wait until it answers."""
        raise NotImplementedError

    def stop(self) -> None:
        """Stop the process and remove what it created."""
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class PostgresSchema:
    """A throwaway PostgreSQL schema, so a benchmark never touches existing tables."""

    def __init__(self, database_url: str) -> None:
        self.database_url = database_url
        self.name = f"bench_{secrets.token_hex(6)}"

    def create(self) -> None:
        """Create the schema."""
        asyncio.run(self._execute(f'CREATE SCHEMA "{self.name}"'))

    def drop(self) -> None:
        """Drop the schema and every table in it."""
        asyncio.run(self._execute(f'DROP SCHEMA IF EXISTS "{self.name}" CASCADE'))

    async def _execute(self, statement: str) -> None:
        import asyncpg

        scheme, sep, rest = self.database_url.partition("://")
        # asyncpg takes a plain libpq URL; SQLAlchemy-style URLs name a driver after a "+".
        connection = await asyncpg.connect(scheme.split("+")[0] + sep + rest)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()


class BenchServer(ManagedProcess):
    """`corral serve` in a subprocess on a fresh data directory (and schema, on PostgreSQL).

    Use it as a context manager: entering starts the server and returns once `GET /readyz`
    answers 200; leaving stops it (SIGTERM, then SIGKILL) and deletes what it created.
    `environ` is added to the server's environment last, e.g. where a provider's endpoint is.
    """

    def __init__(
        self,
        *,
        database_url: str | None = None,
        environ: Mapping[str, str] | None = None,
        startup_timeout_s: float = 60.0,
        shutdown_timeout_s: float = 5.0,
        limits: bool = True,
    ) -> None:
        self.database_url = database_url
        self.limits = limits
        """Count the request and submit rates (never reached); False turns them off."""
        self.environ = dict(environ or {})
        self.startup_timeout_s = startup_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.api_key = new_api_key()
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.schema = PostgresSchema(database_url) if database_url else None
        self.shutdown: str | None = None
        """How the server stopped, e.g. `SIGTERM after 0.4 s`; set when it has stopped."""
        self._data_dir: Path | None = None
        self._log: IO[bytes] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        """Process id of the server."""
        assert self._process is not None, "the server is not running"
        return self._process.pid

    @property
    def target(self) -> Target:
        """Where the load generator should send requests."""
        return Target(base_url=self.base_url, api_key=self.api_key)

    @property
    def database(self) -> str:
        """The database the server uses, for the report (no credentials)."""
        if self.database_url is None:
            return "sqlite (embedded default)"
        assert self.schema is not None
        return f"postgresql {self.database_url.rpartition('@')[2]} schema {self.schema.name}"

    def memory_mb(self) -> tuple[float, float]:
        """The server's resident memory now and at its peak, in MiB."""
        return process_memory_mb(self.pid)

    @property
    def storage(self) -> tuple[str, str | None]:
        """The database URL and schema the server keeps its data in (after `start`)."""
        if self.schema is not None:
            return self.schema.database_url, self.schema.name
        assert self._data_dir is not None, "start the server first"
        return f"sqlite:///{self._data_dir / 'corral.db'}", None

    def cpu_s(self) -> float:
        """CPU seconds the server process has used so far."""
        return process_cpu_s(self.pid)

    def start(self) -> None:
        """Start the server and wait until it is ready."""
        self._data_dir = Path(tempfile.mkdtemp(prefix="corral-bench-"))
        # Embedded defaults: no CORRAL_* setting leaks in from the caller's environment.
        env = {name: value for name, value in os.environ.items() if not name.startswith("CORRAL_")}
        env |= {
            "CORRAL_DATA_DIR": str(self._data_dir),
            "CORRAL_PORT": str(self.port),
            "CORRAL_BOOTSTRAP_KEY": self.api_key,
            "CORRAL_LOG_LEVEL": "warning",
        }
        # One key drives thousands of runs a minute: the limits are counted, never reached
        # (or, without `limits`, not counted at all: 0 is unlimited).
        rate = str(LIMIT_NEVER_REACHED if self.limits else 0)
        for setting in ("RATE_LIMIT", "WORKSPACE_RATE_LIMIT", "SUBMITS"):
            env[f"CORRAL_{setting}_PER_MINUTE"] = rate
        if self.schema is not None:
            self.schema.create()
            env["CORRAL_DATABASE_URL"] = self.schema.database_url
            env["CORRAL_DATABASE_SCHEMA"] = self.schema.name
        env |= self.environ
        self._log = (self._data_dir / "server.log").open("wb")
        self._process = subprocess.Popen(
            [str(Path(sys.executable).parent / "corral"), "serve"],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        wait_ready(
            self._process,
            f"{self.base_url}/readyz",
            timeout_s=self.startup_timeout_s,
            name="corral serve",
            log_tail=self.log_tail,
        )

    def log_tail(self, lines: int = 40) -> str:
        """The last lines the server printed."""
        return "" if self._data_dir is None else read_tail(self._data_dir / "server.log", lines)

    def stop(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and delete its data and schema."""
        if self._process is not None:
            self.shutdown = terminate(self._process, self.shutdown_timeout_s)
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        if self.schema is not None:
            self.schema.drop()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)
            self._data_dir = None
