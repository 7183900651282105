from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from corral.storage import migrate
from corral.storage.tables import metadata


async def test_the_migrations_build_exactly_the_schema_of_the_table_definitions(database):
    def differences(conn):
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, metadata)

    assert await database.read(differences) == []
    assert await migrate.current_revision(database) == migrate.head_revision()


async def test_migrating_twice_changes_nothing(database):
    await migrate.upgrade(database)
    assert await migrate.current_revision(database) == migrate.head_revision()
