"""The database seam: one object that runs transaction functions on SQLite or PostgreSQL.

Store code is plain synchronous SQLAlchemy Core over a `Connection`; `Database.write` and
`Database.read` are the async boundary. On PostgreSQL they run the function through the asyncpg
driver (`AsyncConnection.run_sync`). On SQLite they run it inline on the event loop over one
connection in WAL mode: a statement takes tens of microseconds there, while handing each one to a
driver thread (aiosqlite) costs about ten times that on this class of machine, so embedded mode
is one process with one SQLite connection, and a transaction function never awaits, so two
transactions never interleave. A PostgreSQL exchange runs to its end even when its caller is
cancelled (see `corral.inflight`).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

import orjson
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

# Runs a function of the synchronous API in a greenlet, so each of its statements awaits the
# driver on the event loop: what `AsyncConnection.run_sync` does, without the asynchronous
# connection's own checkout and close, each of which spawns a greenlet of its own.
from sqlalchemy.util.concurrency import greenlet_spawn

from corral import private_files
from corral.errors import Conflict, Unavailable
from corral.inflight import InFlight

logger = logging.getLogger(__name__)

Connection = sa.Connection
"""What a transaction function receives (services type their functions with this alias)."""

P = ParamSpec("P")
T = TypeVar("T")
TxFunction = Callable[Concatenate[sa.Connection, P], T]
Dialect = Literal["sqlite", "postgresql"]

_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})  # serialization_failure, deadlock_detected
_WRITE_ATTEMPTS = 3
_POOL_TIMEOUT_S = 30.0


def _json_dumps(value: Any) -> str:
    return orjson.dumps(value).decode()


def async_url(url: str) -> str:
    """The URL with the async driver Corral uses for PostgreSQL."""
    for prefix in (
        "postgresql+asyncpg://",
        "postgresql+psycopg://",
        "postgresql://",
        "postgres://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    return url


def sqlite_url(url: str) -> str:
    """The URL with the stdlib sqlite3 driver (see the module docstring for why)."""
    return url.replace("sqlite+aiosqlite://", "sqlite://", 1)


def _private_sqlite_file(path: Path) -> None:
    """Make the database file before SQLite does, readable by this user only.

    SQLite would create it with mode 0644; it creates the `-wal` and `-shm` files with the
    database's own mode, so those are private too. Files an earlier start left looser are
    tightened. A directory made for the file is private; an existing one is left as it is.
    """
    path.parent.mkdir(mode=private_files.DIR_MODE, parents=True, exist_ok=True)
    if not private_files.create_file(path):
        private_files.tighten(path)
    for suffix in ("-wal", "-shm"):
        private_files.tighten(path.with_name(path.name + suffix))


def _connected(engine: sa.Engine, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    with engine.connect() as conn:
        return fn(conn, *args, **kwargs)


def _in_transaction(
    engine: sa.Engine, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs
) -> T:
    with engine.begin() as conn:
        return fn(conn, *args, **kwargs)


class Database:
    """Connections to one database, and the transactions run on them."""

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        pool_size: int = 10,
        pool_timeout_s: float = _POOL_TIMEOUT_S,
    ) -> None:
        self.url = url
        self.schema = schema
        self.dialect: Dialect = "postgresql" if url.startswith("postgres") else "sqlite"
        self._pool_size = pool_size
        self._pool_timeout_s = pool_timeout_s
        self._sqlite_engine: sa.Engine | None = None
        self._sqlite_conn: sa.Connection | None = None
        self._pg_engine: AsyncEngine | None = None
        self._pg_transactional: sa.Engine | None = None
        self._in_flight = InFlight()

    # -- lifecycle -------------------------------------------------------------------------

    async def connect(self) -> None:
        """Open the connections (idempotent)."""
        if self.dialect == "sqlite":
            if self._sqlite_conn is None:
                self._sqlite_conn = self._open_sqlite()
        elif self._pg_engine is None:
            self._pg_engine = self._open_postgres()
            # The same pool, its connections out of autocommit while borrowed, for transactions.
            self._pg_transactional = self._pg_engine.sync_engine.execution_options(
                isolation_level="READ COMMITTED"
            )

    async def close(self) -> None:
        """Close every connection."""
        if self._sqlite_conn is not None:
            self._sqlite_conn.close()
            self._sqlite_conn = None
        if self._sqlite_engine is not None:
            self._sqlite_engine.dispose()
            self._sqlite_engine = None
        if self._pg_engine is not None:
            await self._in_flight.drain()
            await self._pg_engine.dispose()
            self._pg_engine = None
            self._pg_transactional = None

    def _open_sqlite(self) -> sa.Connection:
        url = sa.make_url(sqlite_url(self.url))
        if url.database and url.database != ":memory:":
            _private_sqlite_file(Path(url.database))
        engine = sa.create_engine(
            url,
            isolation_level="AUTOCOMMIT",
            poolclass=sa.pool.StaticPool,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args={"check_same_thread": False},
        )

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            for pragma in (
                "journal_mode=WAL",
                "synchronous=NORMAL",
                "foreign_keys=ON",
                "busy_timeout=5000",
            ):
                cursor.execute(f"PRAGMA {pragma}")
            cursor.close()

        self._sqlite_engine = engine
        return engine.connect()

    def _open_postgres(self) -> AsyncEngine:
        connect_args: dict[str, Any] = {}
        if self.schema:
            connect_args["server_settings"] = {"search_path": self.schema}
        # Autocommit by default: reads and single statements are most exchanges, and need no
        # BEGIN and COMMIT around them.
        return create_async_engine(
            async_url(self.url),
            isolation_level="AUTOCOMMIT",
            pool_size=self._pool_size,
            max_overflow=0,
            pool_timeout=self._pool_timeout_s,
            pool_pre_ping=False,
            json_serializer=_json_dumps,
            json_deserializer=orjson.loads,
            connect_args=connect_args,
        )

    # -- transactions ----------------------------------------------------------------------

    async def write(self, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, ...)` in one write transaction and commit it."""
        return await self._write(False, fn, *args, **kwargs)

    async def write_statement(self, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Like `write`, for a function that issues exactly one statement.

        A single statement is atomic by itself, so on PostgreSQL it runs in autocommit mode: one
        round trip instead of three (BEGIN, the statement, COMMIT).
        """
        return await self._write(True, fn, *args, **kwargs)

    async def _write(
        self, autocommit: bool, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        try:
            if self.dialect == "sqlite":
                conn = self._require_sqlite()
                # Transaction control straight on the driver: the connection is in autocommit
                # mode, so SQLAlchemy keeps no transaction state to get out of step with.
                driver = conn.connection.driver_connection
                assert driver is not None
                driver.execute("BEGIN IMMEDIATE")
                try:
                    result = fn(conn, *args, **kwargs)
                except BaseException:
                    driver.execute("ROLLBACK")
                    raise
                driver.execute("COMMIT")
                return result
            return await self._in_flight.run(self._pg_write(autocommit, fn, *args, **kwargs))
        except sa.exc.IntegrityError as exc:
            raise Conflict("the change conflicts with existing data") from exc
        except sa.exc.TimeoutError as exc:
            raise Unavailable(self._pool_busy()) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            raise Unavailable("the database is unreachable") from exc

    async def read(self, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run `fn(conn, ...)` for reading; nothing it does is committed."""
        try:
            if self.dialect == "sqlite":
                return fn(self._require_sqlite(), *args, **kwargs)
            return await self._in_flight.run(self._pg_read(fn, *args, **kwargs))
        except sa.exc.TimeoutError as exc:
            raise Unavailable(self._pool_busy()) from exc
        except (sa.exc.OperationalError, sa.exc.InterfaceError, OSError) as exc:
            raise Unavailable("the database is unreachable") from exc

    async def _pg_write(
        self, autocommit: bool, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs
    ) -> T:
        # PostgreSQL may abort one of two transactions that lock the same rows in opposite orders
        # (deadlock) or that cannot be serialised; the aborted one wrote nothing, so run it again.
        engine = (
            self._require_postgres().sync_engine if autocommit else self._require_transactional()
        )
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                if autocommit:
                    return await greenlet_spawn(
                        functools.partial(_connected, engine, fn, *args, **kwargs)
                    )
                return await greenlet_spawn(
                    functools.partial(_in_transaction, engine, fn, *args, **kwargs)
                )
            except sa.exc.DBAPIError as exc:
                sqlstate = getattr(exc.orig, "sqlstate", None)
                if sqlstate not in _RETRYABLE_SQLSTATES or attempt == _WRITE_ATTEMPTS:
                    raise
                logger.info("write transaction aborted (%s); retrying", sqlstate)
        raise AssertionError("unreachable")

    async def _pg_read(self, fn: TxFunction[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        # In autocommit mode a read is one round trip, not BEGIN, the query and ROLLBACK.
        engine = self._require_postgres().sync_engine
        return await greenlet_spawn(functools.partial(_connected, engine, fn, *args, **kwargs))

    async def run_sync_admin(self, fn: Callable[[sa.Connection], T]) -> T:
        """Run `fn` in a transaction for schema work (migrations, create_all)."""
        if self.dialect == "sqlite":
            engine = sa.create_engine(sa.make_url(sqlite_url(self.url)))
            try:
                with engine.begin() as conn:
                    return fn(conn)
            finally:
                engine.dispose()
        return await greenlet_spawn(_in_transaction, self._require_transactional(), fn)

    def _require_sqlite(self) -> sa.Connection:
        if self._sqlite_conn is None:
            raise Unavailable("the database is not connected")
        return self._sqlite_conn

    def _pool_busy(self) -> str:
        return (
            f"all {self._pool_size} database connections stayed busy for "
            f"{self._pool_timeout_s:g} s (raise CORRAL_DATABASE_POOL_SIZE, or PostgreSQL is "
            "overloaded)"
        )

    def _require_transactional(self) -> sa.Engine:
        if self._pg_transactional is None:
            raise Unavailable("the database is not connected")
        return self._pg_transactional

    def _require_postgres(self) -> AsyncEngine:
        if self._pg_engine is None:
            raise Unavailable("the database is not connected")
        return self._pg_engine

    @property
    def pg_dsn(self) -> str:
        """A plain `postgresql://` DSN for drivers used outside SQLAlchemy (LISTEN/NOTIFY)."""
        url = sa.make_url(async_url(self.url)).set(drivername="postgresql")
        return url.render_as_string(hide_password=False)
