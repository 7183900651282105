"""What `corral serve` checks before it starts anything, and how each failure is told.

Every check runs before the first migration, worker or listener, so a server that cannot start
has changed nothing. A failure is one line naming the cause and the fix, and an exit status of
its own, so scripts and service managers can tell the causes apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import os
import socket
import tempfile
from collections.abc import Iterator
from enum import IntEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from corral.settings import Settings

__all__ = [
    "LOCK_FILE",
    "ExitStatus",
    "StartupFailure",
    "check_data_dir",
    "check_database",
    "failures_exit",
    "listen",
    "lock_data_dir",
    "prepare",
    "without_credentials",
]

LOCK_FILE = "corral.lock"
"""Held by the one server that uses a data directory's SQLite database."""

DATABASE_TIMEOUT_S = 5.0
"""How long the first connection to the database may take before the start gives up."""


class ExitStatus(IntEnum):
    """Why a server or worker did not start (1 stays the client commands' error)."""

    CONFIGURATION = 2
    """A setting or the configuration file is invalid, or the server extra is not installed."""
    ADDRESS = 3
    """It cannot listen on the host and port."""
    DATA_DIR = 4
    """The data directory cannot be created or written."""
    DATABASE = 5
    """The database cannot be reached."""
    ALREADY_RUNNING = 6
    """Another server uses this data directory's SQLite database."""


class StartupFailure(Exception):
    """A start that cannot go on: the line to print and the exit status."""

    def __init__(self, message: str, status: ExitStatus) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def check_data_dir(path: Path) -> None:
    """The data directory exists (created if missing) and this user can write in it."""
    where = path.resolve()
    if where.exists() and not where.is_dir():
        raise StartupFailure(
            f"the data directory {where} is not a directory: "
            "choose another with --data-dir or CORRAL_DATA_DIR",
            ExitStatus.DATA_DIR,
        )
    try:
        where.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tempfile.TemporaryFile(dir=where):
            pass
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        fix = (
            "choose a directory on a writable file system"
            if error.errno == errno.EROFS
            else ("give this user write access, or choose another")
        )
        raise StartupFailure(
            f"cannot write in the data directory {where} ({reason}): {fix} with --data-dir or "
            "CORRAL_DATA_DIR",
            ExitStatus.DATA_DIR,
        ) from None


def lock_data_dir(path: Path) -> IO[str]:
    """Hold the data directory's lock for as long as the returned file stays open.

    On SQLite one process runs the worker: two would each take the other's leases for those of
    a dead predecessor and run the same runs twice. (An API-only `corral serve --no-worker`
    beside it is fine.) The kernel lets go of the lock when the process ends, however it ends.
    """
    handle = (path / LOCK_FILE).open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "unknown"
        handle.close()
        raise StartupFailure(
            f"another Corral process (pid {holder}) runs the worker of the database in "
            f"{path.resolve()}: stop it, or give this one another --data-dir (on SQLite one "
            "process runs the worker; use PostgreSQL for several)",
            ExitStatus.ALREADY_RUNNING,
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"{os.getpid()}\n")
    handle.flush()
    return handle


def listen(host: str, port: int) -> socket.socket:
    """A socket bound and listening on `host:port`, before anything else starts."""
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError as error:
        raise StartupFailure(f"cannot open a socket: {error}", ExitStatus.ADDRESS) from None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)
    except OSError as error:
        sock.close()
        raise StartupFailure(_address_problem(host, port, error), ExitStatus.ADDRESS) from None
    sock.set_inheritable(True)
    return sock


def _address_problem(host: str, port: int, error: OSError) -> str:
    where = f"{host}:{port}"
    if error.errno == errno.EADDRINUSE:
        return (
            f"cannot listen on {where}: address already in use (another server?): stop it, "
            "or choose another port with --port or CORRAL_PORT"
        )
    if error.errno == errno.EACCES:
        return (
            f"cannot listen on {where}: permission denied (ports below 1024 need privileges): "
            "choose a port above 1023 with --port or CORRAL_PORT"
        )
    if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT) or isinstance(
        error, socket.gaierror
    ):
        return (
            f"cannot listen on {where}: this machine has no such address: "
            "choose another with --host or CORRAL_HOST (127.0.0.1, or 0.0.0.0 for every one)"
        )
    return f"cannot listen on {where}: {error.strerror or error}"


def check_database(settings: Settings) -> None:
    """A PostgreSQL server answers (SQLite needs only the data directory)."""
    url = settings.effective_database_url
    if url.startswith("sqlite"):
        return
    import asyncpg

    from corral.storage.database import Database

    async def connect() -> None:
        dsn = Database(url).pg_dsn
        connection = await asyncpg.connect(dsn, timeout=DATABASE_TIMEOUT_S)
        await connection.close()

    try:
        asyncio.run(connect())
    except Exception as error:  # noqa: BLE001 - any driver error means "cannot start"
        where = without_credentials(url)
        raise StartupFailure(
            f"cannot reach the database at {where} ({_reason(error)}): start it, or fix "
            "--database-url / CORRAL_DATABASE_URL",
            ExitStatus.DATABASE,
        ) from None


def without_credentials(url: str) -> str:
    """The database URL as it may be shown: without its user and password."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.rpartition('@')[2]}"


def _reason(error: BaseException) -> str:
    """The driver's reason, on one line."""
    if isinstance(error, TimeoutError):
        return f"no answer within {DATABASE_TIMEOUT_S:g} s"
    cause: BaseException = error
    while cause.__cause__ is not None:
        cause = cause.__cause__
    text = " ".join(str(cause).split()) or type(cause).__name__
    return text[:200]


def prepare(settings: Settings, *, worker: bool) -> IO[str] | None:
    """Every check of a start; the data directory's lock for a worker on SQLite.

    Returns the lock's file, to keep open for as long as the process runs.
    """
    check_data_dir(settings.data_dir)
    held = None
    if worker and settings.effective_database_url.startswith("sqlite"):
        held = lock_data_dir(settings.data_dir)
    try:
        check_database(settings)
    except StartupFailure:
        if held is not None:
            held.close()
        raise
    return held


@contextlib.contextmanager
def failures_exit() -> Iterator[None]:
    """A `StartupFailure` becomes its line on stderr and its exit status."""
    import typer

    from corral.cli.launch import console

    try:
        yield
    except StartupFailure as failure:
        console.print(f"error: {failure.message}", markup=False, highlight=False)
        raise typer.Exit(failure.status) from None
