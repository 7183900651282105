"""`corral workspaces`: the server's workspaces, managed on its database."""

from __future__ import annotations

from tests.cli.test_commands import corral, database_env
from tests.conftest import api_client, running_app
from tests.helpers import assert_error


async def test_a_workspace_is_created_listed_suspended_resumed_and_deleted(settings):
    env = database_env(settings)
    assert corral("migrate", env=env).returncode == 0

    created = corral("workspaces", "create", "acme", env=env)
    key = created.stdout.strip()
    listed = corral("workspaces", "list", env=env)
    suspended = corral("workspaces", "suspend", "acme", env=env)

    assert created.returncode == 0, created.stderr
    assert key.startswith("crl_")
    assert listed.returncode == 0 and "acme" in listed.stdout and "active" in listed.stdout
    assert suspended.returncode == 0, suspended.stderr
    async with running_app(settings) as app, api_client(app, key=key) as client:
        assert_error(await client.get("/v1/runs"), 403, "workspace_suspended")
        assert corral("workspaces", "resume", "acme", env=env).returncode == 0
        assert (await client.get("/v1/runs")).status_code == 200
        audit = (await client.get("/v1/audit")).json()["data"]
    assert [(e["action"], e["actor"]) for e in audit] == [
        ("workspace.resumed", None),
        ("workspace.suspended", None),
        ("workspace.created", None),
    ]

    deleted = corral("workspaces", "delete", "acme", "--yes", env=env)
    gone = corral("workspaces", "suspend", "acme", env=env)

    assert deleted.returncode == 0, deleted.stderr
    assert gone.returncode == 1 and "no workspace 'acme'" in gone.stderr
    assert "Traceback" not in gone.stderr


def test_a_bad_workspace_name_is_refused_in_one_line(settings):
    env = database_env(settings)
    assert corral("migrate", env=env).returncode == 0

    result = corral("workspaces", "create", "no spaces", env=env)

    assert result.returncode == 1
    assert "is not a workspace name" in result.stderr
    assert "Traceback" not in result.stderr
