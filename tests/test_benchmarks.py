"""The benchmark scenarios still run end to end, at toy sizes, so the benchmark code cannot rot.

Only completion and sane figures are asserted here (counts add up, nothing failed); speed is
what `python -m benchmarks.run` is for.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from benchmarks.loadgen import LoadPool, parse_frame
from benchmarks.report import check_goals, machine_facts, percentiles, render
from benchmarks.scenarios import SCENARIOS, Config, ScenarioResult, run_scenario
from benchmarks.server import BenchServer

pytestmark = pytest.mark.e2e

TINY = Config(
    latency_runs=5,
    warmup_runs=2,
    duration_s=1.0,
    concurrency=4,
    sse_runs=5,
    tool_runs=5,
    fanout_deltas=200,
    fanout_subscribers=3,
    fanout_delay_s=0.3,
)


@pytest.fixture(scope="module")
def results() -> Iterator[dict[str, ScenarioResult]]:
    """Every scenario, run once against a `corral serve` started as the benchmark starts it."""
    collected: dict[str, ScenarioResult] = {}
    with BenchServer() as server, LoadPool(processes=2) as pool:
        for name in SCENARIOS:
            collected[name] = run_scenario(
                name, server.target, TINY, pool, server_cpu_s=server.cpu_s
            )
        rss_mb, peak_mb = server.memory_mb()
    assert server.shutdown is not None and server.shutdown.startswith("SIGTERM")
    assert 0 < rss_mb <= peak_mb
    yield collected


def assert_clean(result: ScenarioResult) -> None:
    assert result.errors == 0, result.error_samples
    assert result.failures == []
    assert result.ok
    assert result.wall_s > 0
    assert result.server_cpu_s is not None and result.server_cpu_s >= 0
    assert result.loadgen_cpu_s > 0
    assert result.loadgen_processes >= 1
    assert result.other_cpu_s is not None and result.other_cpu_s >= 0


def assert_latencies(series: dict[str, Any], count: int) -> None:
    assert series["count"] == count
    assert 0 < series["p50"] <= series["p90"] <= series["p99"] <= series["max"]


@pytest.mark.parametrize("name", ["latency", "latency_one_request"])
def test_submit_latency_times_every_run_after_the_warm_up(results, name):
    result = results[name]

    assert_clean(result)
    assert result.count == TINY.latency_runs
    assert result.operations == TINY.latency_runs + TINY.warmup_runs
    assert result.server_cpu_ms_per_op is not None
    assert_latencies(result.figures["latency_ms"], TINY.latency_runs)


@pytest.mark.parametrize("name", ["throughput", "throughput_one_request"])
def test_throughput_counts_completed_runs_from_every_load_process(results, name):
    result = results[name]

    assert_clean(result)
    assert result.figures["clients_per_process"] == [2, 2]
    assert result.loadgen_processes == 2
    assert result.count == result.figures["runs_completed"] > 0
    assert result.figures["runs_per_s"] == result.count / TINY.duration_s
    assert_latencies(result.figures["latency_ms"], result.count)


def test_first_sse_event_is_timed_for_every_run(results):
    result = results["first_event"]

    assert_clean(result)
    assert_latencies(result.figures["first_event_ms"], TINY.sse_runs)
    closed = result.figures["stream_closed_ms"]
    assert closed["count"] == TINY.sse_runs
    assert closed["max"] >= result.figures["first_event_ms"]["max"]


def test_client_tool_round_trip_is_timed_for_every_run(results):
    result = results["client_tool"]

    assert_clean(result)
    for series in ("round_trip_ms", "tool_result_post_ms", "to_first_delta_ms"):
        assert_latencies(result.figures[series], TINY.tool_runs)
    completed = result.figures["to_run_completed_ms"]
    assert completed["count"] == TINY.tool_runs
    assert completed["p50"] >= result.figures["round_trip_ms"]["p50"]


def test_fan_out_delivers_every_delta_to_every_subscriber_in_order(results):
    result = results["fan_out"]

    assert_clean(result)
    figures = result.figures
    assert figures["delivered"] == result.count == TINY.fanout_deltas * TINY.fanout_subscribers
    assert figures["per_subscriber_events_per_s"]["count"] == TINY.fanout_subscribers
    assert figures["aggregate_events_per_s"] > 0


def test_the_report_renders_every_scenario_and_is_json(results):
    scenarios = {name: result.as_dict() for name, result in results.items()}
    report = {
        "machine": machine_facts(),
        "server": {"database": "sqlite", "shutdown": "SIGTERM"},
        "load_processes": 2,
        "scenarios": scenarios,
        "goals": check_goals(scenarios),
    }

    text = render(report)

    assert all(result.summary in text for result in results.values())
    assert [goal["unit"] for goal in report["goals"]] == ["ms", "runs/s", "runs/s"]
    assert orjson.loads(orjson.dumps(report))["scenarios"].keys() == SCENARIOS.keys()


def test_percentiles_use_the_nearest_rank():
    figures = percentiles([float(value) for value in range(100, 0, -1)])

    assert (figures["p50"], figures["p90"], figures["p99"], figures["max"]) == (50, 90, 99, 100)
    assert percentiles([])["p50"] is None


@pytest.mark.parametrize(
    ("block", "expected"),
    [
        (b"id: 7\nevent: message.delta\ndata: {}", (7, "message.delta", b"{}")),
        (b": keep-alive", None),
        (b"data: a\ndata: b", (0, "message", b"a\nb")),
    ],
    ids=["event", "comment", "multi-line-data"],
)
def test_sse_blocks_are_parsed_into_frames(block, expected):
    assert parse_frame(block) == expected
