from __future__ import annotations

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from corral.storage import files, migrate, runs, workspaces
from corral.storage.database import Database
from corral.storage.tables import metadata
from tests.storage.conftest import NOW


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


@pytest.mark.empty_database
async def test_outputs_stored_before_they_named_their_workspace_are_given_their_runs(
    database_url,
):
    def at_0013_with_an_output(conn):
        command.upgrade(migrate.alembic_config(conn), "0013")  # 0014 changes only run_outputs
        workspaces.insert_workspace(conn, workspace_id="ws_1", name="one", now=NOW)
        run = {"id": "run_1", "workspace_id": "ws_1", "status": "completed", "model": "test"}
        spec = {"spec": {"model": "test"}, "input": "hi", "metadata": {}, "created_at": NOW}
        runs.insert(conn, run | spec)
        conn.execute(
            sa.text(
                "INSERT INTO run_outputs (run_id, path, size, sha256, content, created_at)"
                " VALUES ('run_1', 'a.txt', 3, 'x', :content, :now)"
            ),
            {"content": b"abc", "now": NOW},
        )

    url, schema = database_url
    database = Database(url, schema=schema)
    await database.connect()
    try:
        await database.run_sync_admin(at_0013_with_an_output)
        await migrate.upgrade(database)

        assert await database.read(files.stored_bytes, "ws_1") == 3
    finally:
        await database.close()
