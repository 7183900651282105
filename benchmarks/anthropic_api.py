"""The cost of the Managed Agents facade.

`facade_overhead`: the same session turn through `/anthropic` and `/v1`. Two sessions of the
same stored agent, in the same environment, take turns, one through each API, alternating so
both meet the same server state. A turn is timed from the request that sends the message to the
frame that ends it on an already open stream: `run.completed` on `/v1/sessions/{id}/stream`,
`session.status_idle` on `/anthropic/v1/sessions/{id}/events/stream`.

`newest_events`: a page of a long session's events, newest first (`order=desc&limit=1`, what a
client asks to see where a session stands) against the first page oldest first.
"""

from __future__ import annotations

import time

import aiohttp
import orjson

from benchmarks.loadgen import (
    Recorder,
    RequestFailed,
    Target,
    open_session,
    post,
    sse_frames,
    wait_run,
)
from benchmarks.measurement import Bench, Measurement, latency_line, ms
from benchmarks.report import percentiles

MESSAGE = "hello"
FACADE = "/anthropic/v1"


async def _sessions(session: aiohttp.ClientSession, target: Target) -> tuple[str, str]:
    """Two sessions of one stored agent in one environment: one opened in each API."""
    env_body = orjson.dumps({"name": "bench", "config": {"type": "cloud"}})
    env = orjson.loads(await post(session, target.url(f"{FACADE}/environments"), env_body))
    agent_body = orjson.dumps({"name": f"bench-{time.time_ns()}", "model": "test"})
    agent = orjson.loads(await post(session, target.url(f"{FACADE}/agents"), agent_body))
    body = orjson.dumps({"agent": agent["id"], "environment_id": env["id"]})
    v1 = orjson.loads(await post(session, target.url("/v1/sessions"), body))
    facade = orjson.loads(await post(session, target.url(f"{FACADE}/sessions"), body))
    return str(v1["id"]), str(facade["id"])


async def _v1_turn(
    session: aiohttp.ClientSession, target: Target, session_id: str, after: int
) -> tuple[float, int]:
    url = target.url(f"/v1/sessions/{session_id}/stream?after={after}")
    async with session.get(url) as response:
        started = time.perf_counter()
        body = orjson.dumps({"input": MESSAGE})
        await post(session, target.url(f"/v1/sessions/{session_id}/messages"), body)
        async for frame in sse_frames(response):
            after = max(after, frame.seq)
            if frame.type == "run.completed":
                return time.perf_counter() - started, after
            if frame.type in ("run.failed", "run.cancelled", "run.timed_out"):
                break
    raise RequestFailed(f"session {session_id}: the turn did not complete")


async def _facade_turn(session: aiohttp.ClientSession, target: Target, session_id: str) -> float:
    url = target.url(f"{FACADE}/sessions/{session_id}/events/stream")
    async with session.get(url) as response:
        started = time.perf_counter()
        message = {"type": "user.message", "content": [{"type": "text", "text": MESSAGE}]}
        await post(
            session,
            target.url(f"{FACADE}/sessions/{session_id}/events"),
            orjson.dumps({"events": [message]}),
        )
        async for frame in sse_frames(response):
            if frame.type == "session.status_idle":
                reason = orjson.loads(frame.data)["stop_reason"]["type"]
                if reason != "end_turn":
                    break
                return time.perf_counter() - started
    raise RequestFailed(f"session {session_id}: the turn did not end")


async def alternating_turns(target: Target, turns: int) -> Recorder:
    """`turns` turns through each API, alternating, one at a time."""
    recorder = Recorder()
    async with open_session(target, connections=4) as session:
        v1_id, facade_id = await _sessions(session, target)
        after = 0
        for _ in range(turns):
            with recorder.catching():
                seconds, after = await _v1_turn(session, target, v1_id, after)
                recorder.sample("v1", ms(seconds))
            with recorder.catching():
                recorder.sample("anthropic", ms(await _facade_turn(session, target, facade_id)))
    return recorder


def facade_overhead(bench: Bench) -> Measurement:
    """A session turn's latency through `/anthropic` against `/v1`, and the difference."""
    job = bench.pool.run(alternating_turns, target=bench.target, turns=bench.config.sse_runs)
    v1 = percentiles(job.recorder.samples_ms.get("v1", []))
    facade = percentiles(job.recorder.samples_ms.get("anthropic", []))
    overhead = None
    if v1["count"] and facade["count"]:
        overhead = round(100 * (facade["p50"] - v1["p50"]) / v1["p50"], 1)
    summary = f"/anthropic {latency_line(facade)} vs /v1 {latency_line(v1)}"
    if overhead is not None:
        summary += f"  (p50 overhead {overhead:+.1f} %)"
    return Measurement(
        summary=summary,
        count=facade["count"],
        figures={"anthropic_ms": facade, "v1_ms": v1, "p50_overhead_pct": overhead},
        jobs=[job],
    )


async def _page_ms(session: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with session.get(url) as response:
        body = await response.read()
        if response.status != 200 or not orjson.loads(body)["data"]:
            raise RequestFailed(f"GET {url} → {response.status}: {body[:200]!r}")
    return ms(time.perf_counter() - started)


async def newest_and_oldest_pages(target: Target, turns: int, reads: int) -> Recorder:
    """A session of `turns` turns, then `reads` reads of its newest and of its oldest event."""
    recorder = Recorder()
    async with open_session(target, connections=4) as session:
        _, facade_id = await _sessions(session, target)
        for _ in range(turns):
            body = orjson.dumps({"input": MESSAGE})
            sent = await post(session, target.url(f"/v1/sessions/{facade_id}/messages"), body)
            await wait_run(session, target, orjson.loads(sent)["id"])
        events = target.url(f"{FACADE}/sessions/{facade_id}/events?limit=1")
        for _ in range(reads):
            with recorder.catching():
                recorder.sample("newest", await _page_ms(session, f"{events}&order=desc"))
            with recorder.catching():
                recorder.sample("oldest", await _page_ms(session, events))
    return recorder


def newest_events(bench: Bench) -> Measurement:
    """The newest event of a long session against its oldest, through `/anthropic`."""
    turns = bench.config.sse_runs
    job = bench.pool.run(
        newest_and_oldest_pages, target=bench.target, turns=turns, reads=bench.config.sse_runs
    )
    newest = percentiles(job.recorder.samples_ms.get("newest", []))
    oldest = percentiles(job.recorder.samples_ms.get("oldest", []))
    return Measurement(
        summary=f"{turns} turns: newest {latency_line(newest)} vs oldest {latency_line(oldest)}",
        count=newest["count"],
        figures={"turns": turns, "newest_ms": newest, "oldest_ms": oldest},
        jobs=[job],
    )
