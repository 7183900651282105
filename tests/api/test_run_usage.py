"""A run that ends early still counts what it used: finished model calls, and a call cut short."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.api.test_client_tools import WEATHER, wait_for_status
from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait

INPUT_PRICE, OUTPUT_PRICE = 3.0, 15.0
"""Dollars per million tokens of the priced `test` model below."""


@pytest.fixture
async def priced(make_settings, tmp_path) -> AsyncIterator[httpx.AsyncClient]:
    """A client of a server whose `test` model has prices, so runs cost something."""
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        "models:\n"
        "  - {id: test, provider: corral, api: test, context_window: 1000000,\n"
        f"     pricing: {{input: {INPUT_PRICE}, output: {OUTPUT_PRICE}}}}}\n"
    )
    async with running_app(make_settings(model_catalog=catalog)) as app, api_client(app) as c:
        yield c


def cost(input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * INPUT_PRICE + output_tokens * OUTPUT_PRICE) / 1_000_000


def logged_usage(log: list[dict[str, Any]]) -> dict[str, Any]:
    """The sum of the run's `usage` events."""
    usages = [e for e in log if e["type"] == "usage"]
    return {
        "input_tokens": sum(e["input_tokens"] for e in usages),
        "output_tokens": sum(e["output_tokens"] for e in usages),
        "cost_usd": pytest.approx(sum(e["cost_usd"] for e in usages)),
    }


async def usage_when(client, run_id: str, done: Any) -> dict[str, Any]:
    """The run's usage once `done(usage)` holds (a cancelled run's worker reports it later)."""
    for _ in range(250):
        usage = (await client.get(f"/v1/runs/{run_id}")).json()["usage"]
        if done(usage):
            return dict(usage)
        await asyncio.sleep(0.02)
    raise AssertionError(f"the usage never got there: {usage}")


async def test_a_run_cancelled_after_a_tool_turn_keeps_that_turns_tokens_and_cost(priced):
    run = await submit(priced, "go", tools=[WEATHER])
    await wait_for_status(priced, run["id"], "waiting")

    cancelled = (await priced.post(f"/v1/runs/{run['id']}/cancel")).json()
    await asyncio.sleep(0.2)  # whatever the worker does on its way out
    ended = await wait(priced, run["id"])

    [turn] = [e for e in await events(priced, run["id"]) if e["type"] == "usage"]
    assert turn["input_tokens"] > 0 and turn["output_tokens"] > 0
    assert turn["cost_usd"] == pytest.approx(cost(turn["input_tokens"], turn["output_tokens"]))
    expected = {k: turn[k] for k in ("input_tokens", "output_tokens", "cost_usd")}
    assert cancelled["status"] == ended["status"] == "cancelled"
    assert cancelled["usage"] == ended["usage"] == expected


async def test_a_run_that_fails_after_a_model_call_keeps_its_usage(priced):
    run = await submit(
        priced, "go", tools=[WEATHER], agent_spec={"model": "test", "limits": {"max_turns": 1}}
    )
    waiting = await wait_for_status(priced, run["id"], "waiting")
    call_id = waiting["pending_tool_calls"][0]["call_id"]
    answer = {"call_id": call_id, "output": "1"}
    await priced.post(f"/v1/runs/{run['id']}/tool-results", json=answer)

    ended = await wait(priced, run["id"])

    assert ended["status"] == "failed"
    assert ended["error"]["code"] == "max_turns_exceeded"
    assert ended["usage"]["output_tokens"] > 0
    assert ended["usage"]["cost_usd"] > 0
    assert ended["usage"] == logged_usage(await events(priced, run["id"]))


async def test_a_model_call_cut_short_by_a_cancel_counts_the_text_it_had_streamed(priced):
    run = await submit(priced, "[[deltas 200]] [[stream_delay 20ms]] " + "word " * 200)
    for _ in range(250):
        if any(e["type"] == "message.delta" for e in await events(priced, run["id"])):
            break
        await asyncio.sleep(0.02)

    await priced.post(f"/v1/runs/{run['id']}/cancel")
    usage = await usage_when(priced, run["id"], lambda u: u["output_tokens"] > 0)

    log = await events(priced, run["id"])
    shown = "".join(e["text"] for e in log if e["type"] == "message.delta")
    # The test model reports usage at the end of a call only: the output is an estimate of the
    # streamed text (which the worker may have got a little further with than the log shows).
    assert usage["input_tokens"] == 0
    assert math.ceil(len(shown) / 4) <= usage["output_tokens"] < 1000 // 4
    assert usage["cost_usd"] == pytest.approx(cost(0, usage["output_tokens"]))
    assert (await wait(priced, run["id"]))["status"] == "cancelled"


async def test_a_run_timed_out_mid_call_counts_the_call_and_logs_its_usage(priced):
    run = await submit(
        priced,
        "[[deltas 200]] [[stream_delay 20ms]] hello",
        agent_spec={"model": "test", "limits": {"timeout_s": 1}},
    )

    ended = await wait(priced, run["id"])

    assert ended["status"] == "timed_out"
    assert ended["usage"]["output_tokens"] > 0
    assert ended["usage"]["cost_usd"] > 0
    log = await events(priced, run["id"])
    assert [e["type"] for e in log][-2:] == ["usage", "run.timed_out"]
    assert ended["usage"] == logged_usage(log)
