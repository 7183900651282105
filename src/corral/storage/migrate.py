"""Schema migrations (Alembic), shipped inside the package and applied by `corral migrate`."""

from __future__ import annotations

import functools
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from corral.storage.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Any constant works: it names the lock that keeps two nodes from migrating at once.
_ADVISORY_LOCK_ID = 0x636F7272616C


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic config pointing at the packaged migrations."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


@functools.cache
def head_revision() -> str | None:
    """The newest revision shipped with this version of Corral."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _upgrade(connection: sa.Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(sa.text("SELECT pg_advisory_xact_lock(:id)"), {"id": _ADVISORY_LOCK_ID})
    command.upgrade(alembic_config(connection), "head")


def _current(connection: sa.Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def upgrade(database: Database) -> None:
    """Bring the schema to the newest revision (safe to run from several nodes at once)."""
    await database.run_sync_admin(_upgrade)


async def current_revision(database: Database) -> str | None:
    """The revision the database is at, or None before the first migration."""
    return await database.read(_current)
