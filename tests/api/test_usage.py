"""`GET /v1/usage`: a workspace's tokens, cost and runs over a time range, summed and grouped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.domain.usage import month_start, next_month_start
from corral.storage.tables import runs as runs_table
from tests.api.test_sessions import open_session, send
from tests.conftest import api_client, running_app
from tests.helpers import assert_error, scoped_key, submit, wait

OPERATOR_KEY = "crl_operator_test_key"
CATALOG = """
models:
  - {id: test, provider: corral, api: test, context_window: 1000000,
     pricing: {input: 3, output: 15}}
  - {id: echo, provider: corral, api: test, context_window: 1000000,
     pricing: {input: 1, output: 5}}
"""
"""The `test` model, priced so that runs cost something, and a second scripted model."""


@pytest.fixture
async def app(make_settings, tmp_path) -> AsyncIterator[Any]:
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(CATALOG)
    settings = make_settings(model_catalog=catalog, operator_key=OPERATOR_KEY)
    async with running_app(settings) as started:
        yield started


async def finished(client, text: str = "hello", **body: Any) -> dict[str, Any]:
    run = await wait(client, (await submit(client, text, **body))["id"])
    assert run["status"] == "completed", run
    return run


async def backdate(app, run_id: str, created_at: datetime) -> None:
    """Move a run's creation time (runs are counted by it)."""

    def move(conn):
        conn.execute(
            runs_table.update().where(runs_table.c.id == run_id).values(created_at=created_at)
        )

    await app.state.ctx.database.write(move)


async def usage(client, **params: Any) -> dict[str, Any]:
    response = await client.get("/v1/usage", params=params)
    assert response.status_code == 200, response.text
    return dict(response.json())


def sums(*runs: dict[str, Any]) -> dict[str, Any]:
    """What the runs add up to, as a report shows it."""
    return {
        "input_tokens": sum(run["usage"]["input_tokens"] for run in runs),
        "output_tokens": sum(run["usage"]["output_tokens"] for run in runs),
        "cost_usd": pytest.approx(sum(run["usage"]["cost_usd"] for run in runs)),
        "runs": len(runs),
    }


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


async def test_without_parameters_the_report_sums_the_current_utc_month(app, client):
    short = await finished(client, "hi")
    long = await finished(client, "a longer question about many things")
    old = await finished(client, "from last month")
    now = datetime.now(UTC)
    await backdate(app, old["id"], month_start(now) - timedelta(seconds=1))

    report = await usage(client)

    assert report["since"] == rfc3339(month_start(now))
    assert report["until"] == rfc3339(next_month_start(now))
    assert report["totals"] == sums(short, long)
    assert report["totals"]["cost_usd"] > 0
    assert report["groups"] == []


async def test_the_range_includes_since_and_excludes_until(app, client):
    day = datetime(2025, 3, 10, tzinfo=UTC)
    first, second, third = [await finished(client, f"run {n}") for n in range(3)]
    await backdate(app, first["id"], day - timedelta(microseconds=1))
    await backdate(app, second["id"], day)
    await backdate(app, third["id"], day + timedelta(days=1))

    one_day = await usage(client, since=rfc3339(day), until=rfc3339(day + timedelta(days=1)))
    offset = await usage(client, since="2025-03-10T01:00:00+01:00", until="2025-03-11T00:00:00Z")
    only_until = await usage(client, until="2025-03-11T00:00:00.000001Z")

    assert one_day["totals"] == sums(second)
    assert offset["since"] == "2025-03-10T00:00:00Z"
    assert offset["totals"] == sums(second)
    # `until` alone reaches back to the start of its month.
    assert only_until["since"] == "2025-03-01T00:00:00Z"
    assert only_until["totals"] == sums(first, second, third)


async def test_grouping_by_day_gives_one_group_per_utc_day_in_order(app, client):
    runs = [await finished(client, f"run {n}") for n in range(4)]
    times = ["2025-05-02T23:59:59Z", "2025-05-01T00:00:00Z", "2025-05-02T00:00:00Z"]
    for run, time in zip(runs, [*times, times[0]], strict=True):
        await backdate(app, run["id"], datetime.fromisoformat(time))

    report = await usage(client, since="2025-05-01T00:00:00Z", until="2025-06-01T00:00:00Z")
    by_day = await usage(
        client, since="2025-05-01T00:00:00Z", until="2025-06-01T00:00:00Z", group_by="day"
    )

    assert by_day["groups"] == [
        {"day": "2025-05-01", **sums(runs[1])},
        {"day": "2025-05-02", **sums(runs[0], runs[2], runs[3])},
    ]
    assert by_day["totals"] == report["totals"] == sums(*runs)


async def test_grouping_by_agent_and_model_separates_stored_agents_and_models(client):
    created = await client.post("/v1/agents", json={"name": "helper", "model": "echo"})
    assert created.status_code == 201, created.text
    agent_id = created.json()["id"]
    inline = [await finished(client, "inline"), await finished(client, "inline again")]
    stored = await finished(client, "stored", agent="helper")
    echoed = await finished(client, "inline echo", agent_spec={"model": "echo"})

    by_agent = await usage(client, group_by="agent")
    by_model = await usage(client, group_by="model")
    both = await usage(client, group_by=["model", "agent"])

    assert by_agent["groups"] == [
        {"agent": None, **sums(*inline, echoed)},
        {"agent": agent_id, **sums(stored)},
    ]
    assert by_model["groups"] == [
        {"model": "echo", **sums(stored, echoed)},
        {"model": "test", **sums(*inline)},
    ]
    assert both["groups"] == [
        {"model": "echo", "agent": None, **sums(echoed)},
        {"model": "echo", "agent": agent_id, **sums(stored)},
        {"model": "test", "agent": None, **sums(*inline)},
    ]
    everything = sums(*inline, stored, echoed)
    assert by_agent["totals"] == by_model["totals"] == both["totals"] == everything


async def test_grouping_by_key_tells_apart_the_keys_that_submitted_runs(app, client, settings):
    admin_id = (await client.get("/v1/whoami")).json()["key"]["id"]
    ci = await scoped_key(settings, ["runs:read", "runs:write"])
    async with api_client(app, key=ci) as ci_client:
        ci_id = (await ci_client.get("/v1/whoami")).json()["key"]["id"]
        by_ci = [await finished(ci_client, "from ci"), await finished(ci_client, "again")]
        seen_by_ci = await usage(ci_client, group_by="key")
    by_admin = await finished(client, "from the admin")
    session = await open_session(client)
    in_session = await wait(client, (await send(client, session["id"], "a message"))["id"])

    report = await usage(client, group_by=["key", "key"])

    assert sorted(report["groups"], key=lambda g: g["key"] == ci_id) == [
        {"key": admin_id, **sums(by_admin, in_session)},
        {"key": ci_id, **sums(*by_ci)},
    ]
    assert seen_by_ci["groups"] == [{"key": ci_id, **sums(*by_ci)}]


async def test_another_workspaces_runs_are_not_counted(app, client):
    async with api_client(app, key=OPERATOR_KEY) as operator:
        created = await operator.post("/v1/workspaces", json={"name": "elsewhere"})
    assert created.status_code == 201, created.text
    async with api_client(app, key=created.json()["admin_key"]["secret"]) as other:
        theirs = await finished(other, "their run, much longer than ours")
        their_report = await usage(other, group_by="model")
    ours = await finished(client, "ours")

    report = await usage(client, group_by="model")

    assert report["totals"] == sums(ours)
    assert report["groups"] == [{"model": "test", **sums(ours)}]
    assert their_report["totals"] == sums(theirs)


async def test_a_range_without_runs_sums_to_zero(client):
    await finished(client)

    report = await usage(
        client, since="2001-01-01T00:00:00Z", until="2001-02-01T00:00:00Z", group_by="day"
    )

    assert report["totals"] == {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0, "runs": 0}
    assert report["groups"] == []


@pytest.mark.parametrize(
    ("params", "field"),
    [
        pytest.param({"group_by": "week"}, "group_by", id="unknown-grouping"),
        pytest.param({"group_by": ["day", "colour"]}, "group_by", id="second-grouping-unknown"),
        pytest.param({"since": "2025-01-01T00:00:00"}, "since", id="naive-since"),
        pytest.param({"until": "2025-01-01T00:00:00"}, "until", id="naive-until"),
        pytest.param({"since": "yesterday"}, "since", id="since-not-a-time"),
        pytest.param(
            {"since": "2025-02-01T00:00:00Z", "until": "2025-01-01T00:00:00Z"},
            "since",
            id="since-after-until",
        ),
        pytest.param({"since": "2999-01-01T00:00:00Z"}, "since", id="since-after-this-month"),
        pytest.param({"until": "0001-01-01T00:00:00Z"}, "until", id="until-at-the-start-of-time"),
    ],
)
async def test_a_bad_parameter_is_refused_by_name(client, params, field):
    assert_error(await client.get("/v1/usage", params=params), 400, "invalid_request", field)


async def test_the_report_needs_runs_read(app, settings):
    reader = await scoped_key(settings, ["agents:read"])
    async with api_client(app, key=reader) as client:
        assert_error(await client.get("/v1/usage"), 403, "insufficient_scope")
