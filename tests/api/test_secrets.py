"""The secrets vault: values go in, never come out, and are stored only sealed."""

from __future__ import annotations

import sqlalchemy as sa

from corral.process import build_context
from corral.services import secrets as secret_service
from tests.conftest import api_client
from tests.helpers import assert_error, scoped_key

MARKER = "sk-marker-9f3c2e7a"


async def test_a_secret_is_written_versioned_and_never_read_back(client):
    created = await client.post(
        "/v1/secrets", json={"name": "GITHUB_TOKEN", "value": MARKER, "description": "CI bot"}
    )
    updated = await client.put("/v1/secrets/GITHUB_TOKEN", json={"value": MARKER + "-2"})
    listed = await client.get("/v1/secrets")
    shown = await client.get("/v1/secrets/GITHUB_TOKEN")
    audit = await client.get("/v1/audit")

    assert created.status_code == 201, created.text
    assert (created.json()["name"], created.json()["version"]) == ("GITHUB_TOKEN", 1)
    assert updated.json()["version"] == 2
    assert updated.json()["description"] == "CI bot"
    assert [s["name"] for s in listed.json()["data"]] == ["GITHUB_TOKEN"]
    assert [v["version"] for v in shown.json()["versions"]] == [2, 1]
    assert [e["action"] for e in audit.json()["data"]][:2] == ["secret.updated", "secret.created"]
    for response in (created, updated, listed, shown, audit):
        assert MARKER not in response.text


async def test_the_database_holds_only_ciphertext_and_the_server_reveals_the_current_value(
    app, client, settings
):
    await client.post("/v1/secrets", json={"name": "API_TOKEN", "value": MARKER})
    await client.put("/v1/secrets/API_TOKEN", json={"value": MARKER + "-new"})
    ctx = build_context(settings)
    await ctx.database.connect()
    try:
        dump = await ctx.database.read(
            lambda conn: [
                str(tuple(row))
                for table in ("secrets", "secret_versions", "audit_events")
                for row in conn.execute(sa.text(f"SELECT * FROM {table}"))
            ]
        )
        workspace = (await client.get("/v1/whoami")).json()["workspace"]["id"]
        value = (await secret_service.reveal(ctx, workspace, ["API_TOKEN"]))["API_TOKEN"]
    finally:
        await ctx.database.close()

    assert dump and MARKER not in "\n".join(dump)
    assert value == MARKER + "-new"


async def test_bad_secret_requests_name_their_field(client):
    await client.post("/v1/secrets", json={"name": "TAKEN", "value": "x"})

    assert_error(
        await client.post("/v1/secrets", json={"name": "TAKEN", "value": "y"}),
        409,
        "conflict",
        "/name",
    )
    assert_error(
        await client.post("/v1/secrets", json={"name": "9lives", "value": "y"}),
        400,
        "invalid_request",
        "/name",
    )
    assert_error(
        await client.post("/v1/secrets", json={"name": "EMPTY", "value": ""}),
        400,
        "invalid_request",
        "/value",
    )
    assert_error(
        await client.post("/v1/secrets", json={"name": "BIG", "value": "x" * 70000}),
        400,
        "invalid_request",
        "/value",
    )
    assert_error(await client.put("/v1/secrets/NOPE", json={"value": "y"}), 404, "not_found")
    assert (await client.delete("/v1/secrets/TAKEN")).status_code == 204
    assert_error(await client.get("/v1/secrets/TAKEN"), 404, "not_found")


async def test_reading_secrets_takes_secrets_read_and_writing_secrets_write(app, settings):
    reader = await scoped_key(settings, ["secrets:read"])
    async with api_client(app, key=reader) as client:
        assert (await client.get("/v1/secrets")).status_code == 200
        assert_error(
            await client.post("/v1/secrets", json={"name": "X", "value": "y"}),
            403,
            "insufficient_scope",
        )
