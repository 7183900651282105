"""The benchmark scenarios still run end to end, at toy sizes, so the benchmark code cannot rot.

Only completion and sane figures are asserted here (counts add up, nothing failed); speed is
what `python -m benchmarks.run` is for.
"""

from __future__ import annotations

import re
import urllib.request
from collections.abc import Iterator
from typing import Any, NamedTuple

import orjson
import pytest
from benchmarks.adapter_cost import ADAPTERS, adapter_run, fit
from benchmarks.config import Config, RunSpec
from benchmarks.console import METADATA_FILTER, SMOKE, sizes_for
from benchmarks.console_browser import VIEWS, delta_lags
from benchmarks.fake_provider import MODEL, FakeProvider, answer_text
from benchmarks.latency import sequential_runs
from benchmarks.loadgen import LoadPool, parse_frame
from benchmarks.machine import machine_facts
from benchmarks.measurement import ScenarioResult
from benchmarks.recorded_streams import RECORDINGS, Directive, directive_in, load, scaled
from benchmarks.recorded_streams import answer_text as replayed_answer
from benchmarks.report import check_goals, percentiles, render
from benchmarks.scenarios import SCENARIOS, run_scenario, server_environ
from benchmarks.server import BenchServer
from benchmarks.subagents import SERIES as SUBAGENT_SERIES
from benchmarks.subagents import check_round, task

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
    adapter_deltas=(2, 5, 10),
    adapter_runs=(3, 2, 2),
    adapter_baseline_runs=3,
    adapter_rounds=2,
    adapter_warmup_runs=1,
    first_token_runs=3,
    first_token_deltas=4,
    subagent_children=5,
    subagent_rounds=2,
    environment_starts=2,
    environment_calls=5,
    idle_environments=3,
    idle_settle_s=0.2,
)
PROVIDER_SCENARIOS = [name for name, scenario in SCENARIOS.items() if scenario.provider]
ADAPTER_SCENARIOS = [f"adapter_cost_{name}" for name in ADAPTERS]


class Bench(NamedTuple):
    provider: FakeProvider
    server: BenchServer
    pool: LoadPool


@pytest.fixture(scope="module")
def bench() -> Iterator[Bench]:
    """The fake provider, `corral serve` pointed at it and the load processes, as in the command."""
    with (
        FakeProvider(deltas=TINY.provider_deltas) as provider,
        BenchServer(environ={**provider.server_environ, **server_environ(SCENARIOS)}) as server,
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
            provider_url=bench.provider.root_url,
            server_database=bench.server.storage,
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


@pytest.mark.parametrize(
    "name", ["throughput", "throughput_one_request", "throughput_governed", "provider_throughput"]
)
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


@pytest.mark.parametrize("name", ["provider_latency", "provider_throughput"])
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
    assert PROVIDER_SCENARIOS == [
        "provider_latency",
        "provider_throughput",
        "adapter_cost_anthropic",
        "adapter_cost_responses",
        "adapter_cost_chat",
        "first_token",
    ]
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


@pytest.mark.parametrize("name", ADAPTER_SCENARIOS)
def test_adapter_scenarios_fit_a_line_through_the_cpu_of_every_size(results, name):
    result = results[name]
    figures, fitted = result.figures, result.figures["fit"]

    assert_clean(result)
    assert [s["deltas"] for s in figures["series"]] == list(TINY.adapter_deltas)
    assert [s["runs"] for s in figures["series"]] == list(TINY.adapter_runs)
    assert figures["test_model"]["runs"] == TINY.adapter_baseline_runs
    assert result.count == sum(TINY.adapter_runs) + TINY.adapter_baseline_runs
    for series in [figures["test_model"], *figures["series"]]:
        assert_latencies(series["latency_ms"], series["runs"])
        assert series["server_cpu_ms_per_run"] >= 0
        assert series["provider_cpu_ms_per_run"] >= 0
    assert isinstance(fitted["slope_us_per_delta"], float)
    assert fitted["fixed_overhead_ms_per_call"] == pytest.approx(
        fitted["intercept_ms_per_run"] - fitted["test_model_ms_per_run"]
    )
    assert result.summary.startswith(f"{fitted['slope_us_per_delta']:.1f} µs/delta")


def test_first_token_is_timed_on_every_adapter(results):
    result = results["first_token"]
    series = result.figures["first_token_ms"]

    assert_clean(result)
    assert list(series) == list(ADAPTERS)
    for figures in series.values():
        assert_latencies(figures, TINY.first_token_runs)
        assert figures["max"] < 10_000
    assert result.count == TINY.first_token_runs * len(ADAPTERS)


@pytest.mark.parametrize("adapter", list(ADAPTERS))
def test_a_run_on_each_adapter_ends_with_the_whole_answer_and_the_recorded_usage(bench, adapter):
    recorded_usage = {
        "anthropic": (10, 4),
        "responses": (11, 5),
        "chat": (12, 5),
    }
    request = urllib.request.Request(
        f"{bench.server.base_url}/v1/runs?wait_s=30",
        data=adapter_run(ADAPTERS[adapter], 25),
        headers={
            "Authorization": f"Bearer {bench.server.api_key}",
            "Content-Type": "application/json",
        },
    )

    with urllib.request.urlopen(request, timeout=60) as response:
        run = orjson.loads(response.read())

    assert run["status"] == "completed", run.get("error")
    assert run["output"] == replayed_answer(25)
    assert run["output"].split() == [f"word{index}" for index in range(1, 26)]
    usage = run["usage"]["input_tokens"], run["usage"]["output_tokens"]
    assert usage == recorded_usage[adapter]


@pytest.mark.parametrize("api", list(RECORDINGS))
def test_a_recorded_stream_scales_to_any_number_of_deltas_keeping_its_other_frames(api):
    recorded = load(api)

    frames = scaled(api, 7)

    before, after = len(recorded.before), len(recorded.after)
    deltas = frames[before : len(frames) - after]
    assert len(deltas) == 7
    assert all(RECORDINGS[api].delta_marker in frame for frame in deltas)
    assert [re.findall(rb"word\d+", frame) for frame in deltas] == [
        [f"word{index}".encode()] for index in range(1, 8)
    ]

    def unnumbered(frame: bytes) -> bytes:
        whole = b'"text":' + orjson.dumps(replayed_answer(7))
        frame = frame.replace(whole, b'"text":' + orjson.dumps(recorded.text))
        return re.sub(rb'"sequence_number":\d+', b"", frame)

    kept = [*frames[:before], *frames[len(frames) - after :]]
    assert list(map(unnumbered, kept)) == list(map(unnumbered, [*recorded.before, *recorded.after]))
    numbers = [int(n) for n in re.findall(rb'"sequence_number":(\d+)', b"".join(frames))]
    assert numbers == list(range(len(numbers)))


def test_a_directive_travels_in_the_prompt():
    directive = Directive(deltas=200, hold_ms=50, tag="p1_chat_3")

    assert directive_in(orjson.dumps({"input": directive.prompt()})) == directive
    assert directive_in(b'{"input": "stream 20 deltas"}') == Directive(deltas=20)
    assert directive_in(b'{"input": "hello"}') is None


def test_the_fit_is_least_squares_over_the_sizes():
    line = fit([(20, 3.0), (200, 12.0), (2000, 102.0)])

    assert line is not None
    slope, intercept = line
    assert slope == pytest.approx(0.05)
    assert intercept == pytest.approx(2.0)
    assert fit([(20, 3.0), (20, 4.0)]) is None


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


def test_approval_round_trip_is_timed_for_every_run(results):
    result = results["approval"]

    assert_clean(result)
    for series in ("round_trip_ms", "decision_post_ms"):
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


def test_subagent_fan_out_times_every_round_of_a_parent_and_all_its_children(results):
    result = results["subagent_fan_out"]

    assert_clean(result)
    figures = result.figures
    assert (figures["children"], figures["rounds"]) == (
        TINY.subagent_children,
        TINY.subagent_rounds,
    )
    assert result.count == TINY.subagent_rounds
    assert result.operations == (TINY.subagent_rounds + 1) * (TINY.subagent_children + 1)
    for series in SUBAGENT_SERIES:
        assert figures[series]["count"] == TINY.subagent_rounds
    assert_latencies(figures["parent_terminal_ms"], TINY.subagent_rounds)
    assert_latencies(figures["last_child_ms"], TINY.subagent_rounds)
    assert figures["last_child_ms"]["max"] <= figures["parent_terminal_ms"]["max"]
    assert figures["start_spread_ms"]["min"] >= 0


def test_webhook_deliveries_are_timed_for_every_run_and_a_backlog_drains(results):
    result = results["webhooks"]

    assert_clean(result)
    figures = result.figures
    assert result.count == TINY.tool_runs
    assert_latencies(figures["delivery_ms"], TINY.tool_runs)
    assert figures["backlog"] == TINY.latency_runs
    assert figures["drained"] + figures["arrived_before_release"] == TINY.latency_runs
    assert figures["duplicates"] == 0
    assert figures["drained"] == 0 or figures["deliveries_per_s"] > 0


def test_routine_fires_are_timed_from_their_scheduled_second(results):
    result = results["routine_fires"]

    assert_clean(result)
    figures = result.figures
    expected = figures["routines"] * figures["seconds"]
    assert result.count == expected
    for name in ("started_ms", "handled_ms"):
        assert_latencies(figures[name], expected)
    assert figures["recorded_ms"]["p50"] <= figures["handled_ms"]["p50"]


def test_console_times_every_view_of_the_runs_page_and_every_streamed_delta(bench, results):
    result = results["console"]
    if "skipped" in result.figures:
        pytest.skip(result.figures["skipped"])
    figures, runs = result.figures, result.figures["stream_runs"]

    assert sizes_for(TINY) == SMOKE
    assert_clean(result)
    assert figures["seeded"]["runs"] == SMOKE.runs
    assert result.count == len(VIEWS) * SMOKE.loads
    for view in VIEWS:
        assert figures[f"{view}_ms"]["count"] == figures[f"{view}_in_page_ms"]["count"]
        assert 0 < figures[f"{view}_ms"]["p50"] <= figures[f"{view}_ms"]["max"]
    assert figures["first_load_api_ms"]["/v1/runs"]["count"] >= SMOKE.loads
    assert [run["replayed"] for run in runs] == [0] * SMOKE.stream_runs
    assert figures["delta_to_page_ms"]["count"] == sum(run["deltas"] for run in runs) > 0
    request = urllib.request.Request(
        f"{bench.server.base_url}/v1/runs?metadata={METADATA_FILTER}",
        headers={"Authorization": f"Bearer {bench.server.api_key}"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert orjson.loads(response.read())["data"] == []  # the seeded runs are gone


def test_a_delta_appears_when_the_page_first_shows_its_last_character():
    events = [
        {"type": "run.started", "created_at": "2026-01-01T00:00:00Z"},
        {"type": "message.delta", "text": "ab", "created_at": "2026-01-01T00:00:01Z"},
        {"type": "message.delta", "text": "cd", "created_at": "2026-01-01T00:00:02Z"},
        {"type": "message.delta", "text": "é", "created_at": "2026-01-01T00:00:03Z"},
    ]
    start = 1_767_225_600_000.0  # 2026-01-01T00:00:00Z

    lags, replayed, problems = delta_lags(
        events, [[start + 1010, 3], [start + 2020, 4]], live_from_ms=start + 1500
    )

    assert (lags, replayed) == ([20.0], 1)  # "ab" was a replay; "cd" showed 20 ms after commit
    assert problems == ["the page showed 4 of 5+ characters"]  # "é" never did


def test_a_subagent_round_with_a_child_missing_is_a_failure():
    kids = [{"status": "completed", "input": task(index)} for index in range(3)]
    output = "\n".join(f"echo returned: {task(index)}" for index in range(3))

    assert check_round("run.completed", output, 3, kids, "echo", 3) == []
    assert check_round("run.completed", output, 3, kids[:2], "echo", 3) == [
        "2 children listed, not 3",
        "the children's tasks are not one of each",
    ]
    assert check_round("run.failed", "", 3, kids, "echo", 3) == [
        "the parent ended with run.failed",
        "the parent's answer lacks 3 answers, e.g. task-0000",
    ]


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
    assert "provider adapters on recorded streams, server CPU per run" in text
    assert "time to first token added by Corral" in text
    assert all(adapter.title in text for adapter in ADAPTERS.values())
    assert [goal["unit"] for goal in report["goals"]] == ["ms", "runs/s", "runs/s", "ms", "ms"]
    assert report["goals"][-1]["met"] is None
    assert "[no goal] p50 subagent fan-out" in text
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


def test_a_long_session_s_newest_and_oldest_events_are_both_timed(results):
    result = results["anthropic_newest_events"]

    assert_clean(result)
    assert result.figures["turns"] == TINY.sse_runs
    assert_latencies(result.figures["newest_ms"], TINY.sse_runs)
    assert_latencies(result.figures["oldest_ms"], TINY.sse_runs)


def test_the_facade_overhead_times_the_same_turns_through_both_apis(results):
    result = results["anthropic_overhead"]

    assert_clean(result)
    assert_latencies(result.figures["anthropic_ms"], TINY.sse_runs)
    assert_latencies(result.figures["v1_ms"], TINY.sse_runs)
    assert isinstance(result.figures["p50_overhead_pct"], float)
