"""The `first_token` scenario: what Corral adds from a provider's first byte to a client's token.

The fake provider holds each answer back (`Config.first_token_hold_ms`), so the subscriber is on
the run's stream before the answer starts. The fake notes when it sends the answer's first byte;
the subscriber notes when the first `message.delta` frame arrives. Both read `time.monotonic()`,
which is CLOCK_MONOTONIC, one clock for every process of a Linux machine, so the difference
needs no synchronisation: it is the adapter, the runtime, the event log and the SSE endpoint.
"""

from __future__ import annotations

import os
import time
from typing import Any

import aiohttp
import orjson

from benchmarks.adapter_cost import ADAPTERS, Adapter, adapter_run
from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    Recorder,
    RequestFailed,
    Target,
    open_session,
    sse_frames,
    submit_run,
)
from benchmarks.measurement import Bench, Measurement, ms
from benchmarks.recorded_streams import answer_text
from benchmarks.replay_provider import FIRST_BYTE_PATH
from benchmarks.report import percentiles

WARMUP_RUNS = 2
"""Untimed runs per adapter first: the first call of an adapter loads its SDK."""


async def first_tokens(
    target: Target,
    provider_url: str,
    adapters: list[str],
    runs: int,
    deltas: int,
    hold_ms: int,
) -> Recorder:
    """Runs on each adapter in turn, timed from the fake's first byte to the first delta frame.

    The series of each adapter is named after it; warm-up runs are not recorded.
    """
    recorder = Recorder()
    timeout = aiohttp.ClientTimeout(total=30)
    async with (
        open_session(target, connections=2) as session,
        aiohttp.ClientSession(timeout=timeout) as fake,
    ):
        for index in range(WARMUP_RUNS + runs):
            for name in adapters:
                tag = f"p{os.getpid()}_{name}_{index}"
                body = adapter_run(ADAPTERS[name], deltas, hold_ms=hold_ms, tag=tag)
                with recorder.catching():
                    subscribed_at, first_delta_at = await _first_token(
                        session, target, body, answer_text(deltas)
                    )
                    sent_at = await _first_byte_at(fake, f"{provider_url}{FIRST_BYTE_PATH}/{tag}")
                    if subscribed_at >= sent_at:
                        raise RequestFailed(f"{name}: the stream opened after the first byte")
                    if index >= WARMUP_RUNS:
                        recorder.sample(name, ms(first_delta_at - sent_at))
    return recorder


async def _first_token(
    session: aiohttp.ClientSession, target: Target, body: bytes, expected: str
) -> tuple[float, float]:
    """Submit the run and follow its stream: when the stream opened, when its first delta came.

    Raises unless the run completed and its deltas carried the whole answer, in order.
    """
    run_id = await submit_run(session, target, body)
    texts: list[str] = []
    first_delta_at: float | None = None
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        subscribed_at = time.monotonic()
        async for frame in sse_frames(response):
            if frame.type == "message.delta":
                first_delta_at = first_delta_at or time.monotonic()
                texts.append(orjson.loads(frame.data)["text"])
            elif frame.type in TERMINAL_EVENTS:
                terminal = frame.type
    if terminal != "run.completed" or first_delta_at is None:
        raise RequestFailed(f"run {run_id} ended {terminal} after {len(texts)} deltas")
    if "".join(texts) != expected:
        raise RequestFailed(f"run {run_id} streamed {len(texts)} deltas, not the whole answer")
    return subscribed_at, first_delta_at


async def _first_byte_at(fake: aiohttp.ClientSession, url: str) -> float:
    """When the fake provider sent the first byte of the tagged answer (`time.monotonic()`)."""
    async with fake.get(url) as response:
        payload = await response.read()
        if response.status != 200:
            raise RequestFailed(f"GET {url} → {response.status}: {payload[:200]!r}")
    sent_at: float = orjson.loads(payload)["sent_at"]
    return sent_at


def _summary(series: dict[str, dict[str, Any]]) -> str:
    parts = [
        f"{name} {figures['p50']:.1f}/{figures['p99']:.1f}"
        for name, figures in series.items()
        if figures["count"]
    ]
    return "p50/p99 ms: " + ", ".join(parts) if parts else "no successful run"


def first_token(bench: Bench) -> Measurement:
    """Time to first token added by Corral, on each adapter, one run at a time."""
    config = bench.config
    if bench.provider_url is None:
        failure = "needs the fake provider's URL (`provider_url`)"
        return Measurement(summary="not run", count=0, figures={}, jobs=[], failures=[failure])
    job = bench.pool.run(
        first_tokens,
        target=bench.target,
        provider_url=bench.provider_url,
        adapters=list(ADAPTERS),
        runs=config.first_token_runs,
        deltas=config.first_token_deltas,
        hold_ms=config.first_token_hold_ms,
    )
    series = {name: percentiles(job.recorder.samples_ms.get(name, [])) for name in ADAPTERS}
    return Measurement(
        summary=_summary(series),
        count=sum(figures["count"] for figures in series.values()),
        figures={
            "first_token_ms": series,
            "adapters": {name: _described(adapter) for name, adapter in ADAPTERS.items()},
            "hold_ms": config.first_token_hold_ms,
            "deltas_per_run": config.first_token_deltas,
            "warmup_runs_per_adapter": WARMUP_RUNS,
        },
        jobs=[job],
        operations=(WARMUP_RUNS + config.first_token_runs) * len(ADAPTERS),
    )


def _described(adapter: Adapter) -> dict[str, str]:
    return {"title": adapter.title, "model": adapter.model}
