"""Changing the server's secret key: previous keys still open, `corral reseal` seals anew."""

from __future__ import annotations

import pytest

from corral.process import build_context
from corral.security.sealed import SealError, new_secret
from corral.services import secrets as secret_service
from tests.cli.test_commands import corral, database_env
from tests.conftest import api_client, running_app

VALUE = "sk-rotated-marker-51c0"


async def reveal(settings, workspace_id: str) -> str:
    ctx = build_context(settings)
    await ctx.database.connect()
    try:
        return (await secret_service.reveal(ctx, workspace_id, ["TOKEN"]))["TOKEN"]
    finally:
        await ctx.database.close()


async def test_a_secret_survives_a_key_rotation_and_reseal(make_settings):
    old, new = new_secret(), new_secret()
    before = make_settings(secret_key=old)
    async with running_app(before) as app, api_client(app) as client:
        assert (
            await client.post("/v1/secrets", json={"name": "TOKEN", "value": VALUE})
        ).status_code == 201
        workspace = (await client.get("/v1/whoami")).json()["workspace"]["id"]

    rotating = make_settings(secret_key=new, previous_secret_keys=[old])
    assert await reveal(rotating, workspace) == VALUE  # the previous key still opens it
    env = {**database_env(rotating), "CORRAL_SECRET_KEY": new}
    refused = corral("reseal", env=env)  # without the old key listed, nothing can be resealed
    env["CORRAL_PREVIOUS_SECRET_KEYS"] = f'["{old}"]'
    resealed = corral("reseal", env=env)

    assert refused.returncode == 1 and "CORRAL_PREVIOUS_SECRET_KEYS" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert resealed.returncode == 0, resealed.stderr
    assert "sealed 1 values anew" in resealed.stderr
    assert await reveal(make_settings(secret_key=new), workspace) == VALUE
    with pytest.raises(SealError):
        await reveal(make_settings(secret_key=old), workspace)
