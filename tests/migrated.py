"""Databases already at the newest schema, made by copying one real migration per test process.

Running every migration for each of thousands of tests cost more than most of the tests did. So
each test process migrates once, with Corral's own migrations, and every test that wants a
migrated database gets a copy: SQLite copies the file; PostgreSQL replays into the test's schema
the statements the migration ran, recorded as it ran them. Tests marked `empty_database` (the
migration tests) still migrate from nothing themselves.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command

from corral.storage import migrate
from corral.storage.database import Database

__all__ = ["copy_sqlite", "replay_postgres"]

_sqlite_template: Path | None = None
_postgres_statements: list[tuple[str, Any]] | None = None


async def copy_sqlite(target: Path) -> None:
    """Write a migrated SQLite database at `target`."""
    global _sqlite_template
    if _sqlite_template is None:
        path = Path(tempfile.mkdtemp(prefix="corral-template-")) / "corral.db"
        db = Database(f"sqlite:///{path}")
        await db.connect()
        try:
            await migrate.upgrade(db)
        finally:
            await db.close()
        _sqlite_template = path
    shutil.copyfile(_sqlite_template, target)


async def replay_postgres(url: str, schema: str) -> None:
    """Bring the empty PostgreSQL `schema` to the newest revision."""
    global _postgres_statements
    if _postgres_statements is None:
        _postgres_statements = await _record_postgres(url)
    statements = _postgres_statements
    db = Database(url, schema=schema)
    await db.connect()
    try:

        def replay(conn: sa.Connection) -> None:
            for statement, parameters in statements:
                conn.exec_driver_sql(statement, parameters)

        await db.run_sync_admin(replay)
    finally:
        await db.close()


async def _record_postgres(url: str) -> list[tuple[str, Any]]:
    """Migrate a scratch schema, keeping every statement that changed it."""
    schema = f"template_{uuid.uuid4().hex[:12]}"
    admin = Database(url)
    await admin.connect()
    await admin.run_sync_admin(lambda c: c.execute(sa.text(f'CREATE SCHEMA "{schema}"')))
    recorded: list[tuple[str, Any]] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if not statement.lstrip().upper().startswith("SELECT"):
            recorded.append((statement, parameters))

    def upgrade(conn: sa.Connection) -> None:
        sa.event.listen(conn, "before_cursor_execute", keep)
        try:
            command.upgrade(migrate.alembic_config(conn), "head")
        finally:
            sa.event.remove(conn, "before_cursor_execute", keep)

    db = Database(url, schema=schema)
    await db.connect()
    try:
        await db.run_sync_admin(upgrade)
    finally:
        await db.close()
        await admin.run_sync_admin(
            lambda c: c.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        )
        await admin.close()
    return recorded
