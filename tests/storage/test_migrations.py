from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from corral.storage import migrate
from corral.storage.tables import metadata


def differences(conn):
    context = MigrationContext.configure(conn, opts={"compare_type": True})
    return compare_metadata(context, metadata)


@pytest.mark.empty_database
async def test_the_migrations_build_exactly_the_schema_of_the_table_definitions(database):
    assert await database.read(differences) == []
    assert await migrate.current_revision(database) == migrate.head_revision()


async def test_the_tests_copies_of_a_migrated_database_are_exact(database):
    """Other tests start from a copy of one migration (tests/migrated.py), not a migration."""
    assert await database.read(differences) == []
    assert await migrate.current_revision(database) == migrate.head_revision()


@pytest.mark.empty_database
async def test_migrating_twice_changes_nothing(database):
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == migrate.head_revision()
