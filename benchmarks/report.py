"""Figures and how they are shown: percentiles, machine facts, the goals, the table and JSON.

Arithmetic and formatting only: nothing here sends a request or starts a process, so the
printed table and the `--json` file are both rendered from one report dictionary.
"""

from __future__ import annotations

import math
import os
import platform
import statistics
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any


def percentiles(samples_ms: list[float]) -> dict[str, Any]:
    """Count, mean, p50, p90, p99 and max (nearest-rank) of a series; None when it is empty."""
    if not samples_ms:
        return {"count": 0, "mean": None, "p50": None, "p90": None, "p99": None, "max": None}
    ordered = sorted(samples_ms)

    def rank(percent: float) -> float:
        return ordered[max(0, math.ceil(percent / 100 * len(ordered)) - 1)]

    return {
        "count": len(ordered),
        "mean": statistics.fmean(ordered),
        "p50": rank(50),
        "p90": rank(90),
        "p99": rank(99),
        "max": ordered[-1],
    }


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str | None:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        return None
    return None


def machine_facts() -> dict[str, Any]:
    """What the figures were measured on."""
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)),
        "cpu_model": _cpu_model(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "corral": _version("corral"),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


@dataclass(frozen=True, kw_only=True)
class Goal:
    """A figure we promise, checked against each run of the benchmark."""

    scenario: str
    label: str
    figure: Callable[[dict[str, Any]], float | None]
    limit: float
    at_most: bool
    """True when the figure must stay at or below the limit, False when at or above."""
    unit: str


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
]


def check_goals(scenarios: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """Each goal whose scenario ran, with the measured figure and whether it was met."""
    checked = []
    for goal in GOALS:
        result = scenarios.get(goal.scenario)
        if result is None:
            continue
        measured = goal.figure(result["figures"]) if result["figures"] else None
        met = measured is not None and (
            measured <= goal.limit if goal.at_most else measured >= goal.limit
        )
        label = goal.label
        if goal.scenario == "throughput" and result["figures"].get("concurrency") != 32:
            label += f" (measured at concurrency {result['figures'].get('concurrency')})"
        checked.append({"goal": label, "measured": measured, "unit": goal.unit, "met": met})
    return checked


def _cpu(seconds: float | None, percent: float | None) -> str:
    if seconds is None or percent is None:
        return "n/a"
    return f"{percent:.0f}% ({seconds:.1f} s)"


def _table(rows: list[list[str]], right_aligned: set[int]) -> list[str]:
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [
            cell.rjust(width) if column in right_aligned else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        lines.append("  ".join(cells).rstrip())
    return lines


def _header(report: dict[str, Any]) -> list[str]:
    machine, server = report["machine"], report["server"]
    cpu = f"{machine['cpu_count']} CPUs"
    if machine["cpu_model"]:
        cpu += f" ({machine['cpu_model']})"
    uvloop = ", uvloop" if machine["uvloop"] else ""
    return [
        f"Corral benchmark, {machine['measured_at']}",
        f"  machine: {cpu}, {machine['python']}, {machine['platform']}",
        f"  server:  corral {machine['corral']} `corral serve` (API + embedded worker, one "
        f"process), {server['database']}",
        f"  load:    {report['load_processes']} load processes, aiohttp {machine['aiohttp']}"
        f"{uvloop}, keep-alive connections",
        "",
    ]


def _scenario_rows(scenarios: dict[str, dict[str, Any]]) -> list[list[str]]:
    rows = [["scenario", "n", "result", "errors", "server CPU", "load gen CPU"]]
    for result in scenarios.values():
        title = result["title"]
        if result["name"] == "throughput" and result["figures"]:
            figures = result["figures"]
            title = f"throughput, {figures['concurrency']} clients, {figures['duration_s']:g} s"
        elif result["name"] == "fan_out" and result["figures"]:
            figures = result["figures"]
            title = f"fan-out, {figures['deltas']:,} deltas to {figures['subscribers']}"
        rows.append(
            [
                title,
                str(result["count"]),
                result["summary"] + ("" if result["ok"] else "  FAILED"),
                str(result["errors"]),
                _cpu(result["server_cpu_s"], result["server_cpu_pct"]),
                _cpu(result["loadgen_cpu_s"], result["loadgen_cpu_pct"])
                + f" in {result['loadgen_processes']}",
            ]
        )
    return rows


def _problems(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    lines = []
    for result in scenarios.values():
        for failure in result["failures"]:
            lines.append(f"  FAILED {result['name']}: {failure}")
        if result["errors"]:
            lines.append(f"  {result['errors']} errors in {result['name']}, e.g.:")
            lines += [f"    {sample}" for sample in result["error_samples"]]
    return lines


def render(report: dict[str, Any]) -> str:
    """The report as the plain text the command prints."""
    scenarios = report["scenarios"]
    lines = _header(report)
    lines += _table(_scenario_rows(scenarios), right_aligned={1, 3, 4, 5})
    lines += [
        "",
        "CPU: percent of one core over the scenario's timed wall clock, with CPU seconds; the "
        'load generator\'s is summed over its processes ("in N").',
        f"This machine has {report['machine']['cpus_usable']} usable cores "
        f"({100 * report['machine']['cpus_usable']}% in all).",
    ]
    if report["goals"]:
        lines += ["", "goals:"]
        for goal in report["goals"]:
            measured = "n/a" if goal["measured"] is None else f"{goal['measured']:.1f}"
            verdict = "met   " if goal["met"] else "MISSED"
            lines.append(f"  [{verdict}] {goal['goal']}: {measured} {goal['unit']}")
    problems = _problems(scenarios)
    if problems:
        lines += ["", "problems:", *problems]
    lines += ["", f"server shutdown: {report['server']['shutdown']}"]
    return "\n".join(lines)
