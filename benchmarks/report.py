"""Figures and how they are shown: percentiles, the goals, the table and JSON.

Arithmetic and formatting only: nothing here sends a request or starts a process, so the
printed table and the `--json` file are both rendered from one report dictionary.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from benchmarks import cpu
from benchmarks.adapter_report import adapter_cost_lines, first_token_lines, is_adapter_cost
from benchmarks.console import console_lines
from benchmarks.environment_report import environment_lines
from benchmarks.tables import table


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    """Count, mean, min, p50, p90, p99 and max (nearest rank) of a series; None when empty."""
    if not samples_ms:
        return dict.fromkeys(("mean", "min", "p50", "p90", "p99", "max"), None) | {"count": 0}
    ordered = sorted(samples_ms)

    def rank(percent: float) -> float:
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "min": ordered[0],
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
    }


@dataclass(frozen=True, kw_only=True)
class Goal:
    """A figure we promise (or only report), checked against each run of the benchmark."""

    scenario: str
    label: str
    figure: Callable[[dict[str, Any]], float | None]
    unit: str
    at_most: bool = True
    """True when the figure must stay at or below the limit, False when at or above."""
    limit: float | None = None
    """None for a figure reported without a goal (its `met` is None)."""


GOALS = [
    Goal(
        scenario="latency",
        label="p50 submit→terminal ≤ 15 ms",
        figure=lambda figures: figures["latency_ms"]["p50"],
        limit=15.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="throughput",
        label="≥ 300 runs/s at concurrency 32",
        figure=lambda figures: figures["runs_per_s"],
        limit=300.0,
        at_most=False,
        unit="runs/s",
    ),
    Goal(
        scenario="throughput_one_request",
        label="≥ 300 runs/s at concurrency 32, one request a run (POST ?wait_s)",
        figure=lambda figures: figures["runs_per_s"],
        limit=300.0,
        at_most=False,
        unit="runs/s",
    ),
    Goal(
        scenario="approval",
        label="p50 approval round trip (requested → allowed → tool started) ≤ 5 ms",
        figure=lambda figures: figures["round_trip_ms"]["p50"],
        limit=5.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="subagent_fan_out",
        label="p50 subagent fan-out, submit → parent's end after all its children",
        figure=lambda figures: figures["parent_terminal_ms"]["p50"],
        unit="ms",
    ),
    Goal(
        scenario="environments",
        label="p50 environment start ≤ 60 ms, fresh workspace (slowest networking mode)",
        figure=lambda figures: _slowest_p50(figures["starts"], "fresh_ms"),
        limit=60.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="environments",
        label="p50 environment start ≤ 60 ms, existing workspace (slowest networking mode)",
        figure=lambda figures: _slowest_p50(figures["starts"], "restart_ms"),
        limit=60.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="environments",
        label="p50 `read` of a small file ≤ 2 ms",
        figure=lambda figures: figures["calls"]["read_ms"]["p50"],
        limit=2.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="environments",
        label="p50 `bash true` ≤ 5 ms",
        figure=lambda figures: figures["calls"]["bash_true_ms"]["p50"],
        limit=5.0,
        at_most=True,
        unit="ms",
    ),
    Goal(
        scenario="environments",
        label="≤ 15 MiB per idle environment (PSS of its processes)",
        figure=lambda figures: figures["idle"]["pss_mib_per_environment"],
        limit=15.0,
        at_most=True,
        unit="MiB",
    ),
    Goal(
        scenario="environments",
        label="≤ 15 MiB per idle environment (drop of MemAvailable)",
        figure=lambda figures: figures["idle"]["mem_available_drop_mib_per_environment"],
        limit=15.0,
        at_most=True,
        unit="MiB",
    ),
]


def _slowest_p50(starts: dict[str, dict[str, Any]], series: str) -> float | None:
    """The highest p50 of one kind of start over the networking modes; None if one is missing."""
    p50s = [figures[series]["p50"] for figures in starts.values()]
    return None if not p50s or None in p50s else max(p50s)


def check_goals(
    scenarios: dict[str, dict[str, Any]], environments: dict[str, Any] | None = None
) -> list[dict[str, Any]]:
    """Each goal whose scenario (or the environment section) ran, with the figure and verdict."""
    results = dict(scenarios)
    if environments is not None and environments["skipped"] is None:
        results["environments"] = environments
    checked = []
    for goal in GOALS:
        result = results.get(goal.scenario)
        if result is None:
            continue
        measured = goal.figure(result["figures"]) if result["figures"] else None
        met = (
            None
            if goal.limit is None
            else measured is not None
            and (measured <= goal.limit if goal.at_most else measured >= goal.limit)
        )
        label = goal.label
        if goal.scenario.startswith("throughput") and result["figures"].get("concurrency") != 32:
            label += f" (measured at concurrency {result['figures'].get('concurrency')})"
        checked.append({"goal": label, "measured": measured, "unit": goal.unit, "met": met})
    return checked


def _cpu(seconds: float | None, percent: float | None) -> str:
    if seconds is None or percent is None:
        return "n/a"
    return f"{percent:.0f}% ({seconds:.1f} s)"


def _header(report: dict[str, Any]) -> list[str]:
    machine, server = report["machine"], report.get("server")
    cpu = f"{machine['cpu_count']} CPUs"
    if machine["cpu_model"]:
        cpu += f" ({machine['cpu_model']})"
    uvloop = ", uvloop" if machine["uvloop"] else ""
    lines = [
        f"Corral benchmark, {machine['measured_at']}",
        f"  machine: {cpu}, {machine['python']}, {machine['platform']}",
    ]
    if server is not None:
        lines += [
            f"  server:  corral {machine['corral']} `corral serve` (API + embedded worker, one "
            f"process), {server['database']}",
            f"  load:    {report['load_processes']} load processes, aiohttp {machine['aiohttp']}"
            f"{uvloop}, keep-alive connections",
        ]
    provider = report.get("provider")
    if provider:
        lines.append(
            f"  model:   `test` in the server; provider scenarios: {provider['model']} on a fake "
            f"OpenAI-compatible server in its own process, {provider['deltas_per_answer']} "
            "deltas an answer"
        )
        if any(is_adapter_cost(result) for result in report["scenarios"].values()):
            lines.append(
                "           adapter scenarios: the same fake provider replaying recorded streams "
                "of tests/fixtures/providers/"
            )
    return [*lines, ""]


_THROUGHPUT_VARIANTS = {
    "throughput": "",
    "throughput_one_request": ", POST ?wait_s",
    "provider_throughput": ", provider adapter",
}
"""The throughput scenarios, and what their titles add to the sizes."""


def _title(result: dict[str, Any]) -> str:
    """The scenario's title, with its sizes where they vary."""
    figures = result["figures"]
    variant = _THROUGHPUT_VARIANTS.get(result["name"])
    if variant is not None and figures:
        sizes = f"{figures['concurrency']} clients, {figures['duration_s']:g} s"
        return f"throughput, {sizes}{variant}"
    if result["name"] == "fan_out" and figures:
        return f"fan-out, {figures['deltas']:,} tokens to {figures['subscribers']}"
    return str(result["title"])


def _scenario_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["scenario", "n", "result", "errors", "server CPU", "load gen CPU", "other CPU"]]
    for result in scenarios.values():
        rows.append(
            [
                _title(result),
                str(result["count"]),
                result["summary"] + ("" if result["ok"] else "  FAILED"),
                str(result["errors"]),
                _cpu(result["server_cpu_s"], result["server_cpu_pct"]),
                _cpu(result["loadgen_cpu_s"], result["loadgen_cpu_pct"])
                + f" in {result['loadgen_processes']}",
                _cpu(result["other_cpu_s"], result["other_cpu_pct"]),
            ]
        )
    return rows


OPERATION_NAMES = {
    "fan_out": "token delivered",
    "client_tool": "round trip",
    "approval": "round trip",
    "console": "page view (its streamed runs included)",
}


def _cpu_per_operation(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for result in scenarios.values():
        per_op_ms = result["server_cpu_ms_per_op"]
        if per_op_ms is None or is_adapter_cost(result):  # by size, in a section of their own
            continue
        line = f"  {_title(result):32} {per_op_ms:7.3f} ms per "
        line += OPERATION_NAMES.get(result["name"], "run")
        if result["name"] in ("throughput", "provider_throughput"):
            line += f" (≈ {1000 / per_op_ms:.0f} runs/s if the server had a core to itself)"
        provider_ms = result.get("provider_cpu_ms_per_op")
        if provider_ms is not None:
            line += f"; fake provider {provider_ms:.3f} ms"
        lines.append(line)
    if lines:
        lines.insert(0, "server CPU per operation (a busy machine moves it less than rates):")
    return lines


PROVIDER_COUNTERPARTS = {"provider_latency": "latency", "provider_throughput": "throughput"}
"""Each provider scenario, and the same scenario on the test model."""


def _change(before: float, after: float, unit: str, digits: int) -> str:
    return f"{before:.{digits}f} → {after:.{digits}f} {unit} ({after - before:+.{digits}f})"


def _provider_overhead(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """What the provider path adds to a run, for each pair of scenarios that both ran."""
    lines = []
    for name, counterpart in PROVIDER_COUNTERPARTS.items():
        test, provider = scenarios.get(counterpart), scenarios.get(name)
        if test is None or provider is None or not test["count"] or not provider["count"]:
            continue
        test_figures, provider_figures = test["figures"], provider["figures"]
        parts = []
        if "runs_per_s" in test_figures:
            parts.append(
                _change(test_figures["runs_per_s"], provider_figures["runs_per_s"], "runs/s", 0)
            )
        p50s = test_figures["latency_ms"]["p50"], provider_figures["latency_ms"]["p50"]
        parts.append("p50 " + _change(*p50s, "ms", 1))
        cpu_ms = test["server_cpu_ms_per_op"], provider["server_cpu_ms_per_op"]
        if None not in cpu_ms:
            parts.append("server CPU per run " + _change(*cpu_ms, "ms", 2))
        lines.append(f"  {counterpart:<10} " + "; ".join(parts))
    if lines:
        lines.insert(0, "provider adapter against the test model (test → provider, difference):")
    return lines


def _problems(
    scenarios: dict[str, dict[str, Any]], environments: dict[str, Any] | None
) -> list[str]:
    lines = []
    for result in [*scenarios.values(), *([environments] if environments else [])]:
        for failure in result.get("failures", []):
            lines.append(f"  FAILED {result['name']}: {failure}")
        if result["errors"]:
            lines.append(f"  {result['errors']} errors in {result['name']}, e.g.:")
            lines += [f"    {sample}" for sample in result["error_samples"]]
    return lines


def _goal_line(goal: dict[str, Any]) -> str:
    measured = "n/a" if goal["measured"] is None else f"{goal['measured']:.1f}"
    verdict = {True: "met    ", False: "MISSED ", None: "no goal"}[goal["met"]]
    return f"  [{verdict}] {goal['goal']}: {measured} {goal['unit']}"


def _contention_warning(report: dict[str, Any]) -> list[str]:
    others = [
        result["other_cpu_pct"]
        for result in report["scenarios"].values()
        if result["other_cpu_pct"] is not None
    ]
    if not others or max(others) <= cpu.QUIET_OTHER_CPU_PCT:
        return []
    one, five, _ = report["machine"]["load_average_at_start"]
    return [
        f"WARNING: other processes used up to {max(others):.0f}% of a core during these "
        f"scenarios (load average {one:.1f} / {five:.1f} at the start).",
        "The server was competing for CPU, so the figures understate it. Rerun on a quiet machine.",
    ]


def render(report: dict[str, Any]) -> str:
    """The report as the plain text the command prints."""
    scenarios = report["scenarios"]
    lines = _header(report)
    if scenarios:
        lines += _scenario_lines(report)
    environments = report.get("environments")
    if environments is not None:
        if lines[-1]:
            lines.append("")
        lines += environment_lines(environments)
    if report["goals"]:
        lines += ["", "goals:", *map(_goal_line, report["goals"])]
    problems = _problems(scenarios, environments)
    if problems:
        lines += ["", "problems:", *problems]
    server = report.get("server")
    if server is None:
        return "\n".join(lines)
    memory = server.get("memory") or {}
    if memory:
        lines += ["", "server memory (resident, after each scenario / peak so far):"]
        for name, figures in memory.items():
            lines.append(
                f"  {name:<24} {figures['rss_mb']:7.1f} MiB / {figures['peak_rss_mb']:7.1f} MiB"
            )
    lines += ["", f"server shutdown: {server['shutdown']}"]
    return "\n".join(lines)


def _scenario_lines(report: dict[str, Any]) -> list[str]:
    """The scenarios' table, with the CPU notes and comparisons below it."""
    scenarios = report["scenarios"]
    lines = table(_scenario_rows(scenarios), right_aligned={1, 3, 4, 5, 6})
    cores = report["machine"]["cpus_usable"]
    lines += [
        "",
        "CPU: percent of one core over the scenario's timed wall clock (CPU seconds). The load",
        'generator\'s is summed over its processes ("in N"); "other" is every other process',
        "(but the fake provider: its CPU per run is shown below).",
        f"This machine has {cores} usable cores ({100 * cores}% in all).",
        *_contention_warning(report),
    ]
    per_operation = _cpu_per_operation(scenarios)
    if per_operation:
        lines += ["", *per_operation]
    for section in (
        _provider_overhead(scenarios),
        adapter_cost_lines(scenarios),
        first_token_lines(scenarios),
        console_lines(scenarios),
    ):
        if section:
            lines += ["", *section]
    return lines
