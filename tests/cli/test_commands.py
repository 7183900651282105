from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from corral.storage import migrate
from tests.conftest import api_client, running_app

CORRAL = str(Path(sys.executable).parent / "corral")


def corral(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    return subprocess.run(
        [CORRAL, *args], env={**clean, **env}, capture_output=True, text=True, timeout=60
    )


def database_env(settings) -> dict[str, str]:
    env = {"CORRAL_DATA_DIR": str(settings.data_dir), "CORRAL_DATABASE_URL": settings.database_url}
    if settings.database_schema:
        env["CORRAL_DATABASE_SCHEMA"] = settings.database_schema
    return env


def test_migrate_brings_an_empty_database_to_the_current_schema(settings):
    result = corral("migrate", env=database_env(settings))

    assert result.returncode == 0, result.stderr
    assert f"revision {migrate.head_revision()}" in result.stderr


async def test_workspace_create_prints_a_key_that_works_in_that_workspace_only(settings):
    assert corral("migrate", env=database_env(settings)).returncode == 0

    result = corral("workspace", "create", "acme", env=database_env(settings))
    key = result.stdout.strip()

    assert result.returncode == 0, result.stderr
    assert key.startswith("crl_")
    async with running_app(settings) as app, api_client(app, key=key) as client:
        whoami = (await client.get("/v1/whoami")).json()
    assert whoami["workspace"]["name"] == "acme"


def test_a_second_workspace_with_the_same_name_is_refused_clearly(settings):
    assert corral("migrate", env=database_env(settings)).returncode == 0
    assert corral("workspace", "create", "twice", env=database_env(settings)).returncode == 0

    again = corral("workspace", "create", "twice", env=database_env(settings))

    assert again.returncode == 1
    assert "a workspace named 'twice' already exists" in again.stderr
    assert "Traceback" not in again.stderr


def test_the_help_lists_the_commands():
    result = corral("--help", env={})

    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "workspace"):
        assert command in result.stdout


def test_serve_refuses_a_bad_setting_with_a_clear_message(tmp_path):
    result = corral("serve", env={"CORRAL_PORT": "not-a-port", "CORRAL_DATA_DIR": str(tmp_path)})

    assert result.returncode == 2
    assert "invalid setting CORRAL_PORT" in result.stderr
