"""The benchmark scenarios still run end to end, at toy sizes, so the benchmark code cannot rot.

Only completion and sane figures are asserted here (counts add up, nothing failed); speed is
what `python -m benchmarks.run` is for.
"""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
import pytest
from benchmarks import cpu
from benchmarks.config import Config, RunSpec
from benchmarks.environments import NETWORK_MODES, measure_environments, unavailable_reason
from benchmarks.fake_provider import MODEL, FakeProvider, answer_text
from benchmarks.latency import sequential_runs
from benchmarks.loadgen import LoadPool, parse_frame
from benchmarks.machine import machine_facts
from benchmarks.measurement import ScenarioResult
from benchmarks.report import check_goals, percentiles, render
from benchmarks.scenarios import SCENARIOS, run_scenario
from benchmarks.server import BenchServer

from corral.sandbox import cgroups
from corral.sandbox.capabilities import probe

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
    provider_deltas=5,
    provider_duration_s=1.0,
    environment_starts=2,
    environment_calls=5,
    idle_environments=3,
    idle_settle_s=0.2,
)
PROVIDER_SCENARIOS = [name for name, scenario in SCENARIOS.items() if scenario.provider]


class Bench(NamedTuple):
    provider: FakeProvider
    server: BenchServer
    pool: LoadPool


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    """The fake provider, `corral serve` pointed at it and the load processes, as in the command."""
    with (
        FakeProvider(deltas=TINY.provider_deltas) as provider,
        BenchServer(environ=provider.server_environ) as server,
        LoadPool(processes=2) as pool,
    ):
        yield Bench(provider, server, pool)
    assert server.shutdown is not None and server.shutdown.startswith("SIGTERM")


@pytest.fixture(scope="module")
def results(bench: Bench) -> dict[str, ScenarioResult]:
    """Every scenario, run once."""
    collected = {
        name: run_scenario(
            name,
            bench.server.target,
            TINY,
            bench.pool,
            server_cpu_s=bench.server.cpu_s,
            provider_cpu_s=bench.provider.cpu_s,
        )
        for name in SCENARIOS
    }
    rss_mb, peak_mb = bench.server.memory_mb()
    assert 0 < rss_mb <= peak_mb
    return collected


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


@pytest.mark.parametrize("name", ["latency", "latency_one_request", "provider_latency"])
def test_submit_latency_times_every_run_after_the_warm_up(results, name):
    result = results[name]

    assert_clean(result)
    assert result.count == TINY.latency_runs
    assert result.operations == TINY.latency_runs + TINY.warmup_runs
    assert result.server_cpu_ms_per_op is not None
    assert_latencies(result.figures["latency_ms"], TINY.latency_runs)


@pytest.mark.parametrize("name", ["throughput", "throughput_one_request", "provider_throughput"])
def test_throughput_counts_completed_runs_from_every_load_process(results, name):
    result = results[name]
    window_s = TINY.provider_duration_s if SCENARIOS[name].provider else TINY.duration_s

    assert_clean(result)
    assert result.figures["clients_per_process"] == [2, 2]
    assert result.loadgen_processes == 2
    assert result.count == result.figures["runs_completed"] > 0
    assert result.figures["duration_s"] == result.wall_s == window_s
    assert result.figures["runs_per_s"] == result.count / window_s
    assert_latencies(result.figures["latency_ms"], result.count)


@pytest.mark.parametrize("name", PROVIDER_SCENARIOS)
def test_provider_scenarios_report_the_deltas_and_the_fake_providers_cpu(results, name):
    result = results[name]

    assert result.figures["model"] == MODEL
    assert result.figures["deltas_per_run"] == TINY.provider_deltas
    # /proc counts in clock ticks: a few tiny runs may not fill one.
    assert result.provider_cpu_s is not None and result.provider_cpu_s >= 0
    assert result.provider_cpu_ms_per_op is not None
    if "runs_per_s" in result.figures:
        deltas_per_s = result.figures["runs_per_s"] * TINY.provider_deltas
        assert result.figures["deltas_per_s"] == deltas_per_s


def test_only_provider_scenarios_report_the_fake_providers_cpu(results):
    assert PROVIDER_SCENARIOS == ["provider_latency", "provider_throughput"]
    for name, result in results.items():
        assert (result.provider_cpu_s is not None) == (name in PROVIDER_SCENARIOS)


def test_a_run_on_the_fake_provider_ends_with_its_whole_answer_and_usage(bench):
    body = orjson.dumps({"agent_spec": {"model": MODEL}, "input": "hello"})
    request = urllib.request.Request(
        f"{bench.server.base_url}/v1/runs?wait_s=30",
        data=body,
        headers={
            "Authorization": f"Bearer {bench.server.api_key}",
            "Content-Type": "application/json",
        },
    )

    with urllib.request.urlopen(request, timeout=60) as response:
        run = orjson.loads(response.read())

    assert run["status"] == "completed"
    assert run["output"] == bench.provider.answer == "word1 word2 word3 word4 word5"
    assert run["usage"]["input_tokens"] == 1
    assert run["usage"]["output_tokens"] == TINY.provider_deltas


def test_a_provider_run_with_another_answer_counts_as_an_error(bench):
    body = orjson.dumps({"agent_spec": {"model": MODEL}, "input": "hello"})
    expecting_more = RunSpec(body=body, output=answer_text(TINY.provider_deltas + 1))

    job = bench.pool.run(
        sequential_runs, target=bench.server.target, runs=2, warmup_runs=0, run=expecting_more
    )

    assert job.recorder.errors == 2
    assert "answered 'word1 word2 word3 word4 word5', not" in job.recorder.error_samples[0]


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
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "server": {"database": "sqlite", "shutdown": "SIGTERM"},
        "provider": {"model": MODEL, "deltas_per_answer": TINY.provider_deltas},
        "load_processes": 2,
        "scenarios": scenarios,
        "goals": check_goals(scenarios),
    }

    text = render(report)

    assert all(result.summary in text for result in results.values())
    assert "provider adapter against the test model" in text
    assert [goal["unit"] for goal in report["goals"]] == ["ms", "runs/s", "runs/s"]
    assert orjson.loads(orjson.dumps(report))["scenarios"].keys() == SCENARIOS.keys()


# --- the environment section ---------------------------------------------------------------


@pytest.fixture(scope="module")
def environments() -> dict[str, Any]:
    """The environment section at toy sizes, on real sandboxes (skipped where there are none)."""
    reason = unavailable_reason(probe())
    if reason is not None:
        pytest.skip(reason)
    return measure_environments(TINY).as_dict()


def test_environment_starts_are_timed_fresh_and_existing_in_every_networking_mode(environments):
    figures = environments["figures"]

    assert environments["ok"], environments["error_samples"]
    assert environments["skipped"] is None
    assert list(figures["starts"]) == list(NETWORK_MODES) == ["none", "limited", "open"]
    for starts in figures["starts"].values():
        for series in ("fresh_ms", "restart_ms"):
            assert_latencies(starts[series], TINY.environment_starts)
            assert starts[series]["max"] < 30_000
        assert starts["stop_ms"]["count"] == 2 * TINY.environment_starts
    assert figures["stop_ms"]["count"] == 2 * TINY.environment_starts * len(NETWORK_MODES)


def test_environment_calls_are_timed_one_at_a_time_in_a_warm_environment(environments):
    calls = environments["figures"]["calls"]

    assert calls["network"] == "open"
    for series in ("read_ms", "bash_true_ms"):
        assert_latencies(calls[series], TINY.environment_calls)
    for cpu_ms in calls["environment_cpu_ms_per_call"].values():
        assert cpu_ms is None or cpu_ms >= 0


def test_idle_memory_counts_every_process_of_every_environment(environments):
    idle = environments["figures"]["idle"]
    by_process = idle["pss_mib_per_environment_by_process"]

    assert idle["environments"] == TINY.idle_environments
    assert_latencies(idle["start_ms"], TINY.idle_environments)
    assert idle["processes_per_environment"] >= 2  # bubblewrap, and the tool server
    assert "bwrap" in by_process
    assert 0 < idle["pss_mib_per_environment"] == pytest.approx(sum(by_process.values()))
    assert idle["pss_mib_per_environment"] < 200
    assert idle["cgroup_charge_mib_per_environment"] > 0
    assert isinstance(idle["mem_available_drop_mib_per_environment"], float)
    if probe().open_network == "slirp4netns":
        assert idle["slirp4netns_found"] == TINY.idle_environments
        assert by_process["slirp4netns"] > 0


def test_the_environment_section_leaves_no_process_or_cgroup_behind(environments):
    layout = probe().layout
    parents = layout.parents if layout is not None else ()

    assert environments["ok"]
    assert cpu.children_named(os.getpid(), "slirp4netns") == []
    assert [p for parent in parents for p in parent.glob(f"{cgroups.PREFIX}{os.getpid()}-*")] == []


def test_the_report_shows_the_environment_section_and_its_goals(environments):
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "server": None,
        "scenarios": {},
        "environments": environments,
        "goals": check_goals({}, environments),
    }

    text = render(report)

    assert "start, existing workspace, network limited" in text
    assert "call: bash true" in text
    assert "memory per idle environment, 3 alive at once, network open" in text
    assert [goal["unit"] for goal in report["goals"]] == ["ms", "ms", "ms", "ms", "MiB", "MiB"]
    assert orjson.loads(orjson.dumps(report))["environments"]["figures"].keys() == {
        "starts", "stop_ms", "warmup_cycles", "calls", "idle"
    }  # fmt: skip


def test_the_environment_section_is_skipped_with_the_reason_where_nothing_is_enforced():
    section = measure_environments(TINY, capabilities=probe("none")).as_dict()
    report: dict[str, Any] = {
        "machine": machine_facts(),
        "server": None,
        "scenarios": {},
        "environments": section,
        "goals": check_goals({}, section),
    }

    assert section["ok"]
    assert section["skipped"].startswith("the sandbox cannot be enforced on this host: UNSAFE")
    assert report["goals"] == []
    assert f"environments: skipped: {section['skipped']}" in render(report)


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
