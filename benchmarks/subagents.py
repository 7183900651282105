"""The `subagent_fan_out` scenario: one parent run whose single turn starts many child runs.

A parent run calls a stored agent, offered as a tool, N times in one turn: the parent starts N
child runs, waits without a worker, and the last child's end queues it again to answer with all
N results. This is the widest a run may fan out by default (`CORRAL_SUBAGENT_MAX_CHILDREN`), so
it shows what starting children, the queue, the workers and the parent's resumption cost when
every child answers at once (the `test` model echoes its task).

Each round is timed from just before the submit to the parent's terminal frame on its stream,
and to the last child's `ended_at`. Timestamps of the server and instants of the client are
compared on the wall clock, which both read on one machine. The spreads of the children's
`created_at` and `started_at` tell the parent's starting of its children from the workers'
picking them up. Every round is checked: the parent completed, it lists exactly N children, all
completed, and its answer holds every child's.
"""

from __future__ import annotations

import secrets
import time
from datetime import datetime
from typing import Any

import aiohttp
import orjson

from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    Recorder,
    RequestFailed,
    Target,
    open_session,
    post,
    sse_frames,
    submit_run,
)
from benchmarks.measurement import Bench, Measurement, ms
from benchmarks.report import percentiles

SERIES = {
    "parent_terminal_ms": "submit → parent's terminal event",
    "last_child_ms": "submit → last child ended",
    "first_child_started_ms": "submit → first child started",
    "create_spread_ms": "first child created → last child created",
    "start_spread_ms": "first child started → last child started",
    "resume_ms": "last child ended → parent ended",
}
"""Every figure of a round (all in ms), and what it spans."""

_PAGE = 100
"""The largest page `GET /v1/runs` serves."""


def task(index: int) -> str:
    """Child `index`'s task: zero-padded, so that no task is a prefix of another."""
    return f"task-{index:04d}"


def parent_body(agent: str, children: int) -> bytes:
    """A parent run that calls `agent` `children` times in its first turn, then answers.

    Its turn makes more tool calls than the default `max_tool_calls_per_turn` (16) allows, so
    its spec raises that limit to the number of calls.
    """
    calls = "".join(
        f"[[call {agent} {orjson.dumps({'task': task(index)}).decode()}]]"
        for index in range(children)
    )
    spec = {
        "model": "test",
        "tools": [{"type": "agent", "agent": agent}],
        "limits": {"max_tool_calls_per_turn": max(16, children)},
    }
    return orjson.dumps({"agent_spec": spec, "input": calls})


async def subagent_rounds(
    target: Target, children: int, rounds: int, warmup_rounds: int
) -> Recorder:
    """Store a child agent, then fan out to it `warmup_rounds` + `rounds` times, one at a time.

    One record per timed round: its figures and the problems its checks found.
    """
    recorder = Recorder()
    agent = f"bench-echo-{secrets.token_hex(4)}"
    async with open_session(target, connections=2) as session:
        with recorder.catching():
            stored = {"name": agent, "model": "test", "description": "Echoes its task."}
            await post(session, target.url("/v1/agents"), orjson.dumps(stored))
        if recorder.errors:
            return recorder
        body = parent_body(agent, children)
        for index in range(warmup_rounds + rounds):
            with recorder.catching():
                record = await _round(session, target, body, agent, children)
                if index >= warmup_rounds:
                    recorder.records.append(record)
    return recorder


async def _round(
    session: aiohttp.ClientSession, target: Target, body: bytes, agent: str, children: int
) -> dict[str, Any]:
    submitted_at = time.time()
    started = time.perf_counter()
    run_id = await submit_run(session, target, body)
    terminal: str | None = None
    output: str | None = None
    terminal_s = 0.0
    started_events = 0
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            if frame.type == "subagent.started":
                started_events += 1
            elif frame.type in TERMINAL_EVENTS:
                terminal_s = time.perf_counter() - started
                terminal, output = frame.type, orjson.loads(frame.data).get("output")
    if terminal is None:
        raise RequestFailed(f"the stream of {run_id} closed before its terminal event")
    parent = await _get(session, target.url(f"/v1/runs/{run_id}"))
    kids = await _children(session, target, run_id)
    problems = check_round(terminal, output or "", started_events, kids, agent, children)
    record: dict[str, Any] = {"run_id": run_id, "problems": problems}
    if kids and all(kid["started_at"] and kid["ended_at"] for kid in kids):
        starts = [_instant(kid["started_at"]) for kid in kids]
        creations = [_instant(kid["created_at"]) for kid in kids]
        last_end = max(_instant(kid["ended_at"]) for kid in kids)
        record |= {
            "parent_terminal_ms": ms(terminal_s),
            "last_child_ms": ms(last_end - submitted_at),
            "first_child_started_ms": ms(min(starts) - submitted_at),
            "create_spread_ms": ms(max(creations) - min(creations)),
            "start_spread_ms": ms(max(starts) - min(starts)),
            "resume_ms": ms(_instant(parent["ended_at"]) - last_end),
        }
    return record


def check_round(
    terminal: str,
    output: str,
    started_events: int,
    kids: list[dict[str, Any]],
    agent: str,
    children: int,
) -> list[str]:
    """What went wrong in a round; empty when all held."""
    problems = []
    if terminal != "run.completed":
        problems.append(f"the parent ended with {terminal}")
    if started_events != children:
        problems.append(f"{started_events} subagent.started events, not {children}")
    if len(kids) != children:
        problems.append(f"{len(kids)} children listed, not {children}")
    unfinished = [kid["status"] for kid in kids if kid["status"] != "completed"]
    if unfinished:
        problems.append(f"{len(unfinished)} children not completed, e.g. {unfinished[0]}")
    tasks = {task(index) for index in range(children)}
    if {kid["input"] for kid in kids} != tasks:
        problems.append("the children's tasks are not one of each")
    missing = [t for t in sorted(tasks) if f"{agent} returned: {t}" not in output]
    if missing:
        problems.append(f"the parent's answer lacks {len(missing)} answers, e.g. {missing[0]}")
    return problems


async def _get(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    async with session.get(url) as response:
        payload = await response.read()
        if response.status != 200:
            raise RequestFailed(f"GET {response.url.path} → {response.status}: {payload[:200]!r}")
    result: dict[str, Any] = orjson.loads(payload)
    return result


async def _children(
    session: aiohttp.ClientSession, target: Target, run_id: str
) -> list[dict[str, Any]]:
    """Every child the run started, page by page."""
    kids: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        query = f"/v1/runs?parent_run={run_id}&limit={_PAGE}"
        page = await _get(session, target.url(query + (f"&cursor={cursor}" if cursor else "")))
        kids += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return kids


def _instant(timestamp: str) -> float:
    """An API timestamp (ISO 8601, UTC) in seconds since the epoch, as `time.time()`."""
    return datetime.fromisoformat(timestamp).timestamp()


def subagent_fan_out(bench: Bench) -> Measurement:
    """One parent's turn fanning out to many children, timed to the parent's and children's ends."""
    config = bench.config
    children, rounds = config.subagent_children, config.subagent_rounds
    job = bench.pool.run(
        subagent_rounds,
        target=bench.target,
        children=children,
        rounds=rounds,
        warmup_rounds=config.subagent_warmup_rounds,
    )
    records = job.recorder.records
    timed = [record for record in records if "parent_terminal_ms" in record]
    figures: dict[str, Any] = {"children": children, "rounds": rounds}
    figures |= {name: percentiles([r[name] for r in timed]) for name in SERIES}
    failures = [
        f"round {index + 1} (parent {record['run_id']}): {problem}"
        for index, record in enumerate(records)
        for problem in record["problems"]
    ]
    if len(records) + job.recorder.errors < rounds:
        failures.append(f"{len(records)} of {rounds} rounds reported")
    return Measurement(
        summary=_summary(figures),
        count=len(timed),
        figures=figures,
        jobs=[job],
        operations=(rounds + config.subagent_warmup_rounds) * (children + 1),
        failures=failures,
    )


def _summary(figures: dict[str, Any]) -> str:
    parent, last, spread = (
        figures[name] for name in ("parent_terminal_ms", "last_child_ms", "start_spread_ms")
    )
    if not parent["count"]:
        return "no round completed"
    return (
        f"{figures['children']} children: parent p50 {parent['p50']:.0f} p99 "
        f"{parent['p99']:.0f} ms; last child p50 {last['p50']:.0f} p99 {last['p99']:.0f} ms; "
        f"start spread p50 {spread['p50']:.0f} ms"
    )
