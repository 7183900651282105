"""Retries (429 with `Retry-After`, 5xx, network errors, timeouts) and idempotent creates.

The faults come from `FaultyProxy` in front of the real server; timings are checked loosely.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import random
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.client import (
    APIConnectionError,
    APITimeoutError,
    ConflictError,
    Corral,
    RateLimitError,
    ServerError,
    _http,
)
from tests.client.conftest import drain
from tests.client.proxy import FaultyProxy
from tests.conftest import ADMIN_KEY, free_port

RATE_LIMITED = json.dumps({"error": "rate_limited", "message": "too many requests"}).encode()
UNAVAILABLE = json.dumps({"error": "unavailable", "message": "try again"}).encode()


async def timed(call: Awaitable[Any]) -> tuple[Any, float]:
    started = time.monotonic()
    result = await call
    return result, time.monotonic() - started


async def test_a_429_is_retried_after_the_seconds_of_retry_after(open_client, proxy):
    proxy.respond("GET", "/v1/whoami", status=429, body=RATE_LIMITED, headers={"Retry-After": "1"})

    async with open_client(proxy.base_url) as client:
        me, elapsed_s = await timed(client.whoami())

    assert me.key.name == "admin"
    assert proxy.count("GET", "/v1/whoami") == 2
    assert 0.9 <= elapsed_s < 10


async def test_a_429_with_an_http_date_is_retried_once_that_time_has_come(open_client, proxy):
    at = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=2), usegmt=True)
    proxy.respond("GET", "/v1/models", status=429, body=RATE_LIMITED, headers={"Retry-After": at})

    async with open_client(proxy.base_url) as client:
        models, elapsed_s = await timed(client.models.list())

    assert "test" in [m.id for m in models.models]
    assert proxy.count("GET", "/v1/models") == 2
    assert 0.9 <= elapsed_s < 10


async def test_without_retries_a_429_raises_rate_limit_error_at_once(open_client, proxy):
    proxy.respond(
        "GET", "/v1/whoami", status=429, body=RATE_LIMITED, headers={"Retry-After": "7"}, times=2
    )

    async with open_client(proxy.base_url, max_retries=0) as client:
        with pytest.raises(RateLimitError) as limited:
            await client.whoami()
    async with open_client(proxy.base_url) as client:
        with pytest.raises(RateLimitError):
            await (await client.with_options(max_retries=0)).whoami()

    error = limited.value
    assert (error.status, error.code, error.retry_after_s) == (429, "rate_limited", 7.0)
    assert error.message == "too many requests"
    assert error.body["error"] == "rate_limited"
    assert proxy.count("GET", "/v1/whoami") == 2


async def test_a_503_is_retried_with_backoff_and_raises_server_error_when_retries_run_out(
    open_client, proxy
):
    proxy.respond("GET", "/v1/models", status=503, body=UNAVAILABLE, times=2)
    async with open_client(proxy.base_url, max_retries=2) as client:
        models, elapsed_s = await timed(client.models.list())
        proxy.respond("GET", "/v1/whoami", status=503, body=UNAVAILABLE, times=2)
        with pytest.raises(ServerError) as failed:
            await (await client.with_options(max_retries=1)).whoami()

    assert models.default
    assert proxy.count("GET", "/v1/models") == 3
    assert elapsed_s < 0.5 + 1.0 + 1.0  # two full-jitter waits, each under its ceiling
    assert (failed.value.status, failed.value.code) == (503, "unavailable")
    assert proxy.count("GET", "/v1/whoami") == 2


async def test_a_retry_after_that_cannot_be_read_falls_back_to_backoff(open_client, proxy):
    proxy.respond("GET", "/v1/models", status=503, headers={"Retry-After": "soon"})

    async with open_client(proxy.base_url) as client:
        await client.models.list()

    assert proxy.count("GET", "/v1/models") == 2


async def test_a_connection_dropped_before_the_answer_is_retried(open_client, proxy):
    proxy.close_without_response("GET", "/v1/whoami", times=2)
    async with open_client(proxy.base_url) as client:
        await client.whoami()
    proxy.close_without_response("GET", "/v1/whoami")
    async with open_client(proxy.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError) as dropped:
            await client.whoami()

    assert not isinstance(dropped.value, APITimeoutError)
    assert proxy.count("GET", "/v1/whoami") == 4


async def test_a_refused_connection_is_retried_until_the_server_is_up(open_client, server):
    late = FaultyProxy(server.port)
    async with open_client(late.base_url, max_retries=0) as client:
        with pytest.raises(APIConnectionError):
            await client.whoami()
    async with open_client(late.base_url, max_retries=8) as client:
        call = asyncio.create_task(client.whoami())
        await asyncio.sleep(0.3)
        await late.start()
        try:
            me = await asyncio.wait_for(call, 30)
        finally:
            await late.stop()

    assert me.key.name == "admin"
    assert late.count("GET", "/v1/whoami") == 1


async def test_timeouts_are_set_per_client_and_per_call_and_retried(open_client, proxy):
    proxy.hold("GET", "/v1/whoami", times=4)

    async with open_client(proxy.base_url, timeout=0.2, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.whoami()
    async with open_client(proxy.base_url, max_retries=0) as client:
        with pytest.raises(APITimeoutError):
            await client.whoami(timeout=0.2)
        with pytest.raises(APITimeoutError):
            await (await client.with_options(timeout=0.2)).whoami()
    async with open_client(proxy.base_url, timeout=0.2, max_retries=1) as client:
        me = await client.whoami()

    assert me.key.name == "admin"
    assert proxy.count("GET", "/v1/whoami") == 5


@pytest.mark.parametrize(
    ("create", "path", "listing"),
    [
        ("runs", "/v1/runs", "runs"),
        ("run", "/v1/runs", "runs"),
        ("agents", "/v1/agents", "agents"),
        ("sessions", "/v1/sessions", "sessions"),
    ],
)
async def test_a_create_whose_response_was_lost_is_retried_and_creates_once(
    open_client, proxy, acorral, create, path, listing
):
    proxy.drop_response("POST", path)

    async with open_client(proxy.base_url) as client:
        if create == "runs":
            created = await client.runs.create(model="test", input="only once")
        elif create == "run":
            created = await client.run(model="test", input="only once")
        elif create == "agents":
            created = await client.agents.create(name="once", model="test")
        else:
            created = await client.sessions.create(model="test")

    listed = await drain(await getattr(acorral, listing).list())
    assert [item.id for item in listed] == [created.id]
    assert proxy.count("POST", path) == 2


async def test_a_session_message_whose_response_was_lost_is_queued_once(
    open_client, proxy, acorral
):
    session = await acorral.sessions.create(model="test")
    proxy.drop_response("POST", f"/v1/sessions/{session.id}/messages")

    async with open_client(proxy.base_url) as client:
        run = await client.sessions.send(session.id, input="only once")

    assert [r.id for r in await drain(await acorral.runs.list(session=session.id))] == [run.id]
    assert len((await acorral.sessions.retrieve(session.id)).messages) == 2


async def test_an_explicit_idempotency_key_returns_the_same_run_for_the_same_body(sdk):
    first = await sdk.runs.create(model="test", input="hi", idempotency_key="job-42")
    again = await sdk.runs.create(model="test", input="hi", idempotency_key="job-42")

    with pytest.raises(ConflictError) as conflict:
        await sdk.runs.create(model="test", input="different", idempotency_key="job-42")

    assert again.id == first.id
    assert conflict.value.code == "idempotency_conflict"


@pytest.mark.parametrize("attempt", range(6))
def test_backoff_is_full_jitter_under_a_doubling_ceiling_unless_the_server_says(attempt):
    config = Corral(api_key=ADMIN_KEY, base_url=f"http://127.0.0.1:{free_port()}").config
    rng = random.Random(attempt)
    ceiling = min(config.max_retry_delay_s, config.initial_retry_delay_s * 2**attempt)

    delays = [_http.retry_delay_s(config, attempt, None, rng) for _ in range(200)]

    assert all(0 <= d <= ceiling for d in delays)
    assert max(delays) > ceiling * 0.8 and min(delays) < ceiling * 0.2
    assert _http.retry_delay_s(config, attempt, 3.0, rng) == 3.0
    assert _http.retry_delay_s(config, attempt, 3600.0, rng) == _http.MAX_RETRY_AFTER_S
