"""The scenarios timed on a run's event stream: its first event, and a client tool's round trip.

Both time what a streaming client waits for, frame by frame, rather than a run's end: how soon
the stream shows the run started, and how soon a tool result posted mid-run shows up in it.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import aiohttp
import orjson

from benchmarks.config import TEST_MODEL_RUN
from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    JobReport,
    Recorder,
    RequestFailed,
    Target,
    open_session,
    post,
    sse_frames,
    submit_run,
)
from benchmarks.measurement import Bench, Measurement, latency_line, ms
from benchmarks.report import percentiles

ECHO_TOOL = {
    "type": "client",
    "name": "echo",
    "description": "echo",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
}
TOOL_RUN_BODY = orjson.dumps({"agent_spec": {"model": "test", "tools": [ECHO_TOOL]}, "input": "go"})


# --- first SSE event ------------------------------------------------------------------------


async def first_event_latency(target: Target, runs: int) -> Recorder:
    """POST a run, open its stream at once, time the first event frame; read to the end."""
    recorder = Recorder()
    async with open_session(target, connections=2) as session:
        for _ in range(runs):
            with recorder.catching():
                await _first_event(session, target, recorder)
    return recorder


async def _first_event(session: aiohttp.ClientSession, target: Target, recorder: Recorder) -> None:
    started = time.perf_counter()
    run_id = await submit_run(session, target, TEST_MODEL_RUN.body)
    first_event_s: float | None = None
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            if first_event_s is None:
                first_event_s = time.perf_counter() - started
            if frame.type in TERMINAL_EVENTS:
                terminal = frame.type
    if first_event_s is None or terminal != "run.completed":
        raise RequestFailed(f"stream of {run_id} closed after terminal event {terminal}")
    recorder.sample("first_event", ms(first_event_s))
    recorder.sample("stream_closed", ms(time.perf_counter() - started))


def first_sse_event(bench: Bench) -> Measurement:
    """Time from the start of POST /v1/runs to the first event frame of the run's stream."""
    job = bench.pool.run(first_event_latency, target=bench.target, runs=bench.config.sse_runs)
    first = percentiles(job.recorder.samples_ms.get("first_event", []))
    closed = percentiles(job.recorder.samples_ms.get("stream_closed", []))
    summary = latency_line(first)
    if closed["count"]:
        summary += f"  (stream closed: p50 {closed['p50']:.1f} ms)"
    return Measurement(
        summary=summary,
        count=first["count"],
        figures={"first_event_ms": first, "stream_closed_ms": closed},
        jobs=[job],
    )


# --- client tool round trip -----------------------------------------------------------------


Step = Callable[[aiohttp.ClientSession, Target, Recorder], Awaitable[None]]
"""One run of a round-trip scenario, its samples recorded (a module-level function: load
processes receive it pickled)."""


async def round_trips(target: Target, runs: int, step: Step) -> Recorder:
    """`runs` runs of `step`, one after the other; a failed one is counted, not raised."""
    recorder = Recorder()
    async with open_session(target, connections=2) as session:
        for _ in range(runs):
            with recorder.catching():
                await step(session, target, recorder)
    return recorder


async def tool_round_trips(target: Target, runs: int) -> Recorder:
    """Runs that call a client tool, answered from the stream as soon as the call arrives."""
    return await round_trips(target, runs, _tool_round_trip)


async def _tool_round_trip(
    session: aiohttp.ClientSession, target: Target, recorder: Recorder
) -> None:
    run_id = await submit_run(session, target, TOOL_RUN_BODY)
    called_at: float | None = None
    marks: dict[str, float] = {}
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            now = time.perf_counter()
            if frame.type == "client_tool.call":
                called_at = now
                answer = {"call_id": orjson.loads(frame.data)["call_id"], "output": "pong"}
                await post(
                    session, target.url(f"/v1/runs/{run_id}/tool-results"), orjson.dumps(answer)
                )
                marks["tool_result_post"] = time.perf_counter() - called_at
            elif called_at is None:
                continue
            elif frame.type == "client_tool.result":
                marks.setdefault("round_trip", now - called_at)
            elif frame.type == "message.delta":
                marks.setdefault("first_delta", now - called_at)
            elif frame.type in TERMINAL_EVENTS:
                terminal = frame.type
                marks["run_completed"] = now - called_at
    missing = {"round_trip", "first_delta", "run_completed"} - marks.keys()
    if terminal != "run.completed" or missing:
        raise RequestFailed(f"run {run_id} ended {terminal}; never saw {sorted(missing)}")
    for name, seconds in marks.items():
        recorder.sample(name, ms(seconds))


def round_trip_measurement(job: JobReport, also: dict[str, str]) -> Measurement:
    """The round trip's and the run's end percentiles, and those of `also` (figure → sample)."""
    series = job.recorder.samples_ms
    round_trip = percentiles(series.get("round_trip", []))
    completed = percentiles(series.get("run_completed", []))
    summary = latency_line(round_trip)
    if completed["count"]:
        summary += f"  (to run.completed: p50 {completed['p50']:.1f} ms)"
    figures = {"round_trip_ms": round_trip}
    figures |= {figure: percentiles(series.get(sample, [])) for figure, sample in also.items()}
    return Measurement(
        summary=summary,
        count=round_trip["count"],
        figures={**figures, "to_run_completed_ms": completed},
        jobs=[job],
    )


def client_tool_round_trip(bench: Bench) -> Measurement:
    """From the `client_tool.call` frame to the `client_tool.result` frame of our answer."""
    job = bench.pool.run(tool_round_trips, target=bench.target, runs=bench.config.tool_runs)
    also = {"tool_result_post_ms": "tool_result_post", "to_first_delta_ms": "first_delta"}
    return round_trip_measurement(job, also)
