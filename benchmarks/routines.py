"""The `routine_fires` scenario: how late a routine's scheduled run starts after its time.

Several routines of a stored `test` agent share a schedule that fires every second
(`* * * * * *`), so each second the server's scheduler fires them all: it records one fire per
routine, then handles them one after the other, each submitting its run. For every fire the
figures are the time from the schedule's `scheduled_at` to the fire's `handled_at` (its run was
submitted) and to the run's `started_at` (a worker began it). All these instants are the
server's, so no clocks are compared. The fire's `created_at` tells when the scheduler recorded
it: a scheduler that keeps up records a second's fires at once, one that falls behind later and
later. The earliest run of each second shows the delay before the scheduler starts any (it
records all the second's fires before handling the first), and the spread of a second's
`handled_at` how long its fires wait for each other.

The routines' first second is not timed: they were created one after the other, and only the
seconds all of them fire are. Every timed second must fire each routine once, and each fire
must start one run that completes; otherwise the scenario fails. The routines are paused,
then deleted (their runs stay).
"""

from __future__ import annotations

import asyncio
import math
import secrets
from collections import Counter, defaultdict
from datetime import datetime, timedelta
from typing import Any

import aiohttp
import orjson

from benchmarks.loadgen import Recorder, RequestFailed, Target, open_session, post
from benchmarks.measurement import Bench, Measurement, ms
from benchmarks.report import percentiles

ROUTINES = 5
"""Routines firing each second: the samples of a second, handled by one scheduler in turn."""

SERIES = {
    "started_ms": "scheduled_at → run started_at",
    "handled_ms": "scheduled_at → fire handled_at",
    "recorded_ms": "scheduled_at → fire created_at",
    "first_started_ms": "scheduled_at → the earliest run started_at of its second",
    "spread_ms": "first → last fire handled_at of one second",
}
"""Every figure (all in ms), and what it spans."""

SETTLE_TIMEOUT_S = 30.0
"""How long the fires of the timed seconds may take to start and their runs to end."""

_PAGE = 100
"""The largest page the fire history and `GET /v1/runs` serve."""


async def routine_fires(target: Target, routines: int, seconds: int) -> Recorder:
    """Fire `routines` routines every second for `seconds` timed seconds; one sample per fire."""
    recorder = Recorder()
    async with open_session(target, connections=4) as session:
        created: list[str] = []
        with recorder.catching():
            agent = f"bench-routine-{secrets.token_hex(4)}"
            body = orjson.dumps({"name": agent, "model": "test"})
            await post(session, target.url("/v1/agents"), body)
            for index in range(routines):
                body = orjson.dumps(_routine(f"{agent}-{index}", agent))
                created.append(
                    orjson.loads(await post(session, target.url("/v1/routines"), body))["id"]
                )
            await asyncio.sleep(seconds + 1)
            fires, runs = await _settle(session, target, created, seconds)
            samples, problems = fire_samples(fires, runs, seconds)
            for series, values in samples.items():
                for value in values:
                    recorder.sample(series, value)
            recorder.records.append({"problems": problems})
        for routine_id in created:
            with recorder.catching():
                await _delete(session, target.url(f"/v1/routines/{routine_id}"))
    return recorder


def _routine(name: str, agent: str) -> dict[str, Any]:
    return {
        "name": name,
        "agent": agent,
        "input": "tick {{ fire.scheduled_at }}",
        "overlap": "allow",
        "triggers": [{"type": "schedule", "cron": "* * * * * *"}],
    }


async def _settle(
    session: aiohttp.ClientSession, target: Target, routine_ids: list[str], seconds: int
) -> tuple[dict[str, list[dict[str, Any]]], dict[str, list[dict[str, Any]]]]:
    """Each routine's fires and runs, once the timed seconds fired and their runs ended.

    The routines are paused as soon as every one of them has fired the last timed second.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + SETTLE_TIMEOUT_S
    paused = False
    while True:
        fires = {r: await _pages(session, target, f"/v1/routines/{r}/fires") for r in routine_ids}
        timed = _timed_seconds(fires, seconds)
        fired = bool(timed) and all(
            any(_at(f["scheduled_at"]) >= timed[-1] for f in found if f["status"] == "started")
            for found in fires.values()
        )
        if fired and not paused:
            for routine_id in routine_ids:
                await post(session, target.url(f"/v1/routines/{routine_id}/pause"), b"")
            paused = True
        if paused:
            query = "/v1/runs?metadata=routine:{}"
            runs = {r: await _pages(session, target, query.format(r)) for r in routine_ids}
            if all(run["ended_at"] for found in runs.values() for run in found):
                return fires, runs
        if loop.time() > deadline:
            raise RequestFailed(f"the timed seconds did not settle within {SETTLE_TIMEOUT_S} s")
        await asyncio.sleep(0.5)


def _timed_seconds(fires: dict[str, list[dict[str, Any]]], seconds: int) -> list[datetime]:
    """The seconds timed: the `seconds` after the latest first fire of any routine.

    Empty until every routine has fired.
    """
    firsts = [min(_at(f["scheduled_at"]) for f in found) for found in fires.values() if found]
    if not firsts or len(firsts) < len(fires):
        return []
    start = max(firsts)
    return [start + timedelta(seconds=index + 1) for index in range(seconds)]


def fire_samples(
    fires: dict[str, list[dict[str, Any]]], runs: dict[str, list[dict[str, Any]]], seconds: int
) -> tuple[dict[str, list[float]], list[str]]:
    """The samples of every fire of the timed seconds, and what went wrong (empty when all held).

    `fires` and `runs` are each routine's whole fire history and the runs its fires started.
    """
    timed = _timed_seconds(fires, seconds)
    problems: list[str] = []
    samples: dict[str, list[float]] = {name: [] for name in SERIES}
    by_second: defaultdict[datetime, list[tuple[float, float]]] = defaultdict(list)
    for routine_id, found in fires.items():
        if len({f["scheduled_at"] for f in found}) < len(found):
            problems.append(f"routine {routine_id} fired a second twice")
        in_window = {_at(f["scheduled_at"]): f for f in found if _at(f["scheduled_at"]) in timed}
        if len(in_window) != len(timed):
            problems.append(f"routine {routine_id} fired {len(in_window)} of {len(timed)} seconds")
        ran = {run["id"]: run for run in runs[routine_id]}
        per_fire = Counter(run["metadata"].get("routine_fire") for run in runs[routine_id])
        for second, fire in sorted(in_window.items()):
            run = ran.get(fire["run_id"] or "")
            problem = _fire_problem(fire, run, per_fire[fire["id"]])
            if problem is not None:
                problems.append(problem)
                continue
            assert run is not None
            handled = ms((_at(fire["handled_at"]) - second).total_seconds())
            started = ms((_at(run["started_at"]) - second).total_seconds())
            samples["recorded_ms"].append(ms((_at(fire["created_at"]) - second).total_seconds()))
            samples["handled_ms"].append(handled)
            samples["started_ms"].append(started)
            by_second[second].append((handled, started))
    for pairs in by_second.values():
        samples["first_started_ms"].append(min(started for _, started in pairs))
        handled_times = [handled for handled, _ in pairs]
        samples["spread_ms"].append(max(handled_times) - min(handled_times))
    return samples, problems


def _fire_problem(fire: dict[str, Any], run: dict[str, Any] | None, runs: int) -> str | None:
    """What is wrong with a timed fire and its run (`runs` started for it in all), if anything."""
    if fire["status"] != "started" or run is None:
        return f"fire {fire['id']} is {fire['status']}, with no run"
    if runs != 1:
        return f"fire {fire['id']} started {runs} runs"
    if run["status"] != "completed" or run["started_at"] is None:
        return f"run {run['id']} of fire {fire['id']} ended {run['status']}"
    return None


async def _pages(session: aiohttp.ClientSession, target: Target, path: str) -> list[dict[str, Any]]:
    """Every item of a paged list."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    separator = "&" if "?" in path else "?"
    while True:
        query = f"{path}{separator}limit={_PAGE}" + (f"&cursor={cursor}" if cursor else "")
        async with session.get(target.url(query)) as response:
            payload = await response.read()
            if response.status != 200:
                raise RequestFailed(f"GET {path} → {response.status}: {payload[:200]!r}")
        page = orjson.loads(payload)
        items += page["data"]
        cursor = page.get("next_cursor")
        if not cursor:
            return items


async def _delete(session: aiohttp.ClientSession, url: str) -> None:
    async with session.delete(url) as response:
        if response.status != 204:
            raise RequestFailed(f"DELETE {response.url.path} → {response.status}")


def _at(timestamp: str) -> datetime:
    return datetime.fromisoformat(timestamp)


def routine_fire_latency(bench: Bench) -> Measurement:
    """From each scheduled time to its fire's handling and its run's start."""
    seconds = max(1, math.ceil(bench.config.tool_runs / ROUTINES))
    job = bench.pool.run(routine_fires, target=bench.target, routines=ROUTINES, seconds=seconds)
    samples = job.recorder.samples_ms
    figures: dict[str, Any] = {"routines": ROUTINES, "seconds": seconds}
    figures |= {name: percentiles(samples.get(name, [])) for name in SERIES}
    failures = [problem for record in job.recorder.records for problem in record["problems"]]
    expected = ROUTINES * seconds
    if figures["started_ms"]["count"] + len(failures) < expected and not job.recorder.errors:
        failures.append(f"{figures['started_ms']['count']} of {expected} fires timed")
    return Measurement(
        summary=_summary(figures),
        count=figures["started_ms"]["count"],
        figures=figures,
        jobs=[job],
        failures=failures,
    )


def _summary(figures: dict[str, Any]) -> str:
    started, handled, recorded = (
        figures[name] for name in ("started_ms", "handled_ms", "recorded_ms")
    )
    if not started["count"]:
        return "no fire timed"
    return (
        f"{figures['routines']} each second: run started p50 {started['p50']:.0f} p99 "
        f"{started['p99']:.0f} ms; handled p50 {handled['p50']:.0f} p99 {handled['p99']:.0f} "
        f"ms; recorded p99 {recorded['p99']:.0f} ms"
    )
