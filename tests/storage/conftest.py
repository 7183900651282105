from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from corral.ids import new_id
from corral.storage import runs, workspaces
from corral.storage.database import Database

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture
async def workspace(database: Database) -> str:
    await database.write(workspaces.insert_workspace, workspace_id="ws_1", name="test", now=NOW)
    return "ws_1"


@pytest.fixture
def make_run(database: Database, workspace: str):
    async def make(**overrides: Any) -> str:
        values = {
            "id": new_id("run"),
            "workspace_id": workspace,
            "status": "queued",
            "model": "test",
            "spec": {"model": "test", "tools": [], "limits": {}},
            "input": "hi",
            "metadata": {},
            "created_at": NOW,
        }
        values.update(overrides)
        await database.write(runs.insert, values)
        return str(values["id"])

    return make


@pytest.fixture
def make_session(database: Database, workspace: str):
    async def make(session_id: str = "ses_1") -> str:
        from corral.storage import sessions

        await database.write(
            sessions.insert,
            {
                "id": session_id,
                "workspace_id": workspace,
                "spec": {},
                "metadata": {},
                "created_at": NOW,
                "updated_at": NOW,
            },
        )
        return session_id

    return make
