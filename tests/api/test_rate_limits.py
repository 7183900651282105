"""Request and submit rates per key and per workspace, shared by every API node through Redis."""

from __future__ import annotations

import contextlib
import logging
import socket

from tests.conftest import REDIS_URL, api_client, running_app
from tests.helpers import TEST_AGENT, assert_error, scoped_key

RUN = {"input": "hi", "agent_spec": TEST_AGENT}


def limited(make_settings, **limits):
    """Settings with only the given limits (the others unlimited)."""
    values = {
        "rate_limit_per_minute": 0,
        "workspace_rate_limit_per_minute": 0,
        "submits_per_minute": 0,
        **limits,
    }
    return make_settings(**values)


async def test_a_key_over_its_rate_is_refused_with_the_standard_headers(make_settings):
    settings = limited(make_settings, rate_limit_per_minute=3)
    async with running_app(settings) as app, api_client(app) as client:
        answers = [await client.get("/v1/runs") for _ in range(3)]
        refused = await client.get("/v1/runs")
        other = await scoped_key(settings, ["runs:read"])
        async with api_client(app, key=other) as second:
            fresh = await second.get("/v1/runs")

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.headers["RateLimit-Remaining"] for a in answers] == ["2", "1", "0"]
    assert {a.headers["RateLimit-Limit"] for a in answers} == {"3"}
    assert 0 <= int(answers[0].headers["RateLimit-Reset"]) <= 60
    assert_error(refused, 429, "rate_limited")
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert refused.json()["limit"] == 3
    assert fresh.status_code == 200  # each key has a limit of its own


async def test_the_keys_of_a_workspace_share_its_rate(make_settings):
    settings = limited(make_settings, workspace_rate_limit_per_minute=4)
    async with running_app(settings) as app, api_client(app) as first:
        second_key = await scoped_key(settings, ["runs:read"])
        async with api_client(app, key=second_key) as second:
            for client in (first, second, first, second):
                assert (await client.get("/v1/runs")).status_code == 200
            response = await second.get("/v1/runs")
    assert_error(response, 429, "rate_limited")
    assert "workspace" in response.json()["message"]


async def test_submits_are_counted_apart_from_reads(make_settings):
    settings = limited(make_settings, submits_per_minute=2)
    async with running_app(settings) as app, api_client(app) as client:
        for _ in range(2):
            assert (await client.post("/v1/runs", json=RUN)).status_code == 202
        refused = await client.post("/v1/runs", json=RUN)
        session = await client.post("/v1/sessions", json={"agent_spec": TEST_AGENT})
        message = await client.post(
            f"/v1/sessions/{session.json()['id']}/messages", json={"input": "hi"}
        )
        reads = await client.get("/v1/runs")
    assert_error(refused, 429, "rate_limited")
    assert session.status_code == 201  # opening a session submits nothing
    assert_error(message, 429, "rate_limited")
    assert reads.status_code == 200


async def test_two_api_nodes_count_against_one_limit_through_redis(make_settings, backend):
    settings = limited(make_settings, rate_limit_per_minute=4, redis_url=REDIS_URL)
    async with contextlib.AsyncExitStack() as stack:
        nodes = [await stack.enter_async_context(running_app(settings)) for _ in range(2)]
        clients = [await stack.enter_async_context(api_client(node)) for node in nodes]
        for client in (*clients, *clients):
            assert (await client.get("/v1/runs")).status_code == 200
        for client in clients:
            assert_error(await client.get("/v1/runs"), 429, "rate_limited")


async def test_an_unreachable_limit_store_lets_requests_through_with_a_warning(
    make_settings, caplog
):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"
        settings = limited(make_settings, rate_limit_per_minute=1, redis_url=dead, broker="memory")
        with caplog.at_level(logging.WARNING, logger="corral.services.limits"):
            async with running_app(settings) as app, api_client(app) as client:
                answers = [await client.get("/v1/runs") for _ in range(3)]

    assert [a.status_code for a in answers] == [200, 200, 200]
    assert "RateLimit-Limit" not in answers[0].headers
    assert any("rate limit store is unreachable" in r.getMessage() for r in caplog.records)


async def test_whoami_shows_each_rate_and_what_is_left_of_it(make_settings):
    settings = limited(
        make_settings,
        rate_limit_per_minute=10,
        workspace_rate_limit_per_minute=20,
        submits_per_minute=5,
    )
    async with running_app(settings) as app, api_client(app) as client:
        assert (await client.post("/v1/runs", json=RUN)).status_code == 202
        rates = (await client.get("/v1/whoami")).json()["limits"]["rates"]

    assert rates == [
        {"name": "key_requests", "per_minute": 10, "remaining": 8},
        {"name": "workspace_requests", "per_minute": 20, "remaining": 18},
        {"name": "workspace_submits", "per_minute": 5, "remaining": 4},
    ]


def test_every_submitting_route_is_a_route():
    from corral.api.scopes import ROUTES, SUBMITS

    assert SUBMITS.issubset(ROUTES)


async def test_the_operator_sets_a_workspaces_own_limits(make_settings):
    settings = limited(make_settings, submits_per_minute=100, operator_key="crl_op_limits")
    async with (
        running_app(settings) as app,
        api_client(app, key="crl_op_limits") as operator,
        api_client(app) as default_admin,
    ):
        team = (await operator.post("/v1/workspaces", json={"name": "tight"})).json()
        changed = await operator.patch(
            "/v1/workspaces/tight", json={"limits": {"submits_per_minute": 1}}
        )
        bad = await operator.patch(
            "/v1/workspaces/tight", json={"limits": {"submits_per_minute": -1}}
        )
        async with api_client(app, key=team["admin_key"]["secret"]) as admin:
            assert (await admin.post("/v1/runs", json=RUN)).status_code == 202
            refused = await admin.post("/v1/runs", json=RUN)
            rates = (await admin.get("/v1/whoami")).json()["limits"]["rates"]
            audit = (await admin.get("/v1/audit")).json()["data"]
        for _ in range(3):  # the other workspace keeps the server's limit
            assert (await default_admin.post("/v1/runs", json=RUN)).status_code == 202

    set_limits = {k: v for k, v in changed.json()["limits"].items() if v is not None}
    assert set_limits == {"submits_per_minute": 1}  # every other limit: the server's
    assert_error(bad, 400, "invalid_request", "/limits/submits_per_minute")
    assert_error(refused, 429, "rate_limited")
    assert {"name": "workspace_submits", "per_minute": 1, "remaining": 0} in rates
    assert audit[0]["action"] == "workspace.limits_changed"
    assert audit[0]["details"] == {"limits": {"submits_per_minute": 1}}


async def test_a_key_can_have_a_rate_of_its_own(make_settings):
    settings = limited(make_settings, rate_limit_per_minute=100)
    async with running_app(settings) as app, api_client(app) as admin:
        made = await admin.post(
            "/v1/keys",
            json={"name": "slow", "scopes": ["runs:read"], "rate_limit_per_minute": 2},
        )
        bad = await admin.post(
            "/v1/keys", json={"name": "x", "scopes": ["runs:read"], "rate_limit_per_minute": 0}
        )
        async with api_client(app, key=made.json()["secret"]) as slow:
            answers = [await slow.get("/v1/runs") for _ in range(3)]

    assert made.json()["rate_limit_per_minute"] == 2
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "2"
    assert_error(bad, 400, "invalid_request", "/rate_limit_per_minute")


async def test_the_mantyx_facade_counts_against_the_same_rates(make_settings):
    from tests.mantyx.test_protocol import AGENT, BASE

    settings = limited(make_settings, submits_per_minute=1)
    async with running_app(settings) as app, api_client(app) as client:
        first = await client.post(f"{BASE}/agent-runs", json={**AGENT, "prompt": "hi"})
        second = await client.post(f"{BASE}/agent-runs", json={**AGENT, "prompt": "hi"})
        native = await client.post("/v1/runs", json=RUN)

    assert first.status_code == 202, first.text
    assert second.status_code == 429
    assert 1 <= int(second.headers["Retry-After"]) <= 60
    assert_error(native, 429, "rate_limited")
