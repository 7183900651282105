"""The approval round trip: a held tool call, decided from the stream, until the tool starts.

A run whose `wait` call its permissions hold (`ask`) logs `approval.requested`, lets go of its
worker and waits. The client allows it as soon as the frame arrives; the decision queues the run
again, a worker claims it, reads the decision and starts the tool. The round trip is the time
from the `approval.requested` frame to the `tool.started` frame: what a person clicking
"allow" waits for, less their own time.
"""

from __future__ import annotations

import time

import aiohttp
import orjson

from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    Recorder,
    RequestFailed,
    Target,
    post,
    sse_frames,
    submit_run,
)
from benchmarks.measurement import Bench, Measurement, ms
from benchmarks.stream_latency import round_trip_measurement, round_trips

ASKING_RUN_BODY = orjson.dumps(
    {
        "agent_spec": {
            "model": "test",
            "builtin_tools": ["wait"],
            "permissions": {"tools": {"wait": "ask"}},
        },
        "input": '[[call wait {"seconds": 0.001}]]',
    }
)


async def approval_round_trips(target: Target, runs: int) -> Recorder:
    """Runs that ask before their one tool call, allowed from the stream at once."""
    return await round_trips(target, runs, _approval_round_trip)


async def _approval_round_trip(
    session: aiohttp.ClientSession, target: Target, recorder: Recorder
) -> None:
    run_id = await submit_run(session, target, ASKING_RUN_BODY)
    asked_at: float | None = None
    marks: dict[str, float] = {}
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            now = time.perf_counter()
            if frame.type == "approval.requested":
                asked_at = now
                call_id = orjson.loads(frame.data)["call_id"]
                await post(
                    session,
                    target.url(f"/v1/runs/{run_id}/approvals/{call_id}"),
                    orjson.dumps({"decision": "allow"}),
                )
                marks["decision_post"] = time.perf_counter() - asked_at
            elif asked_at is None:
                continue
            elif frame.type == "tool.started":
                marks.setdefault("round_trip", now - asked_at)
            elif frame.type in TERMINAL_EVENTS:
                terminal = frame.type
                marks["run_completed"] = now - asked_at
    missing = {"round_trip", "run_completed"} - marks.keys()
    if terminal != "run.completed" or missing:
        raise RequestFailed(f"run {run_id} ended {terminal}; never saw {sorted(missing)}")
    for name, seconds in marks.items():
        recorder.sample(name, ms(seconds))


def approval_round_trip(bench: Bench) -> Measurement:
    """From the `approval.requested` frame to the `tool.started` frame of the allowed call."""
    job = bench.pool.run(approval_round_trips, target=bench.target, runs=bench.config.tool_runs)
    return round_trip_measurement(job, {"decision_post_ms": "decision_post"})
