from __future__ import annotations

import asyncio

from corral.process import build_context
from corral.storage import migrate


async def test_health_is_public(app):
    from tests.conftest import api_client

    async with api_client(app, key=None) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")

    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["revision"] == migrate.head_revision()


async def test_readiness_reports_a_schema_behind_the_code(app, settings):
    ctx = build_context(settings)
    await ctx.database.connect()
    await ctx.database.write(lambda conn: conn.exec_driver_sql("DELETE FROM alembic_version"))
    await ctx.database.close()
    from tests.conftest import api_client

    async with api_client(app) as client:
        ready = await client.get("/readyz")

    assert ready.status_code == 503
    assert ready.json()["schema"] == "behind"


async def test_the_test_model_is_always_listed(client):
    models = (await client.get("/v1/models")).json()

    assert models["default"] == "test"
    assert {
        "id": "test",
        "provider": "corral",
        "model": "test",
        "api": "test",
        "context_window": 1_000_000,
        "pricing": None,
        "requires_api_key": False,
    } in models["models"]


async def test_whoami_names_the_workspace_key_and_limits(client):
    body = (await client.get("/v1/whoami")).json()

    assert body["workspace"]["id"].startswith("ws_")
    assert body["key"]["id"].startswith("key_")
    assert body["limits"]["max_turns"] == 32


async def test_metrics_count_requests_and_runs(client):
    from tests.helpers import submit, wait

    await wait(client, (await submit(client, "counted"))["id"])
    # The worker counts a run once its end is stored and announced: a waiter may see it first.
    for _ in range(50):
        text = (await client.get("/metrics")).text
        if 'corral_runs_ended_total{status="completed"}' in text:
            break
        await asyncio.sleep(0.02)

    assert "corral_http_requests_total" in text
    assert 'route="/v1/runs"' in text
    assert "corral_runs_created_total" in text
    assert 'corral_runs_ended_total{status="completed"}' in text


async def test_the_openapi_document_describes_the_api(client):
    spec = (await client.get("/openapi.json")).json()

    assert "/v1/runs" in spec["paths"]
    assert "/v1/runs/{run_id}/stream" in spec["paths"]
    run = spec["components"]["schemas"]["Run"]
    assert run["properties"]["output"]["description"]


async def test_the_openapi_document_promises_the_error_body_corral_sends(client):
    spec = (await client.get("/openapi.json")).json()

    responses = spec["paths"]["/v1/runs"]["post"]["responses"]
    assert "422" not in responses
    for status in ("400", "401", "404"):
        schema = responses[status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/ErrorBody"}
    assert "HTTPValidationError" not in spec["components"]["schemas"]
