"""The report's sections of the adapter scenarios and of the time to first token.

Formatting only, from the report dictionary, like `benchmarks.report`: an adapter scenario's
per-size figures and its fit do not fit the one-line-per-scenario table.
"""

from __future__ import annotations

from typing import Any

from benchmarks.tables import number, table


def is_adapter_cost(result: dict[str, Any]) -> bool:
    """Whether a scenario's result is an adapter scenario's (per-size CPU and a fit)."""
    return bool(result["figures"]) and "fit" in result["figures"]


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def adapter_cost_lines(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """Server CPU per run by deltas per answer, and the fitted line, one row an adapter."""
    results = [result for result in scenarios.values() if is_adapter_cost(result)]
    if not results:
        return []
    sizes = [series["deltas"] for series in results[0]["figures"]["series"]]
    header = ["adapter", "test model", *(f"{deltas:,} deltas" for deltas in sizes)]
    rows = [[*header, "per delta", "per run (intercept)", "fixed overhead"]]
    for result in results:
        figures, fit = result["figures"], result["figures"]["fit"]
        slope = fit["slope_us_per_delta"]
        overhead = fit["fixed_overhead_ms_per_call"]
        rows.append(
            [
                figures["adapter"],
                _ms(fit["test_model_ms_per_run"]),
                *(_ms(series["server_cpu_ms_per_run"]) for series in figures["series"]),
                "n/a" if slope is None else f"{slope:.1f} µs",
                _ms(fit["intercept_ms_per_run"]),
                "n/a" if overhead is None else f"{overhead:+.2f} ms",
            ]
        )
    runs = ", ".join(
        f"{series['runs']} at {series['deltas']:,}" for series in results[0]["figures"]["series"]
    )
    test_runs = results[0]["figures"]["test_model"]["runs"]
    return [
        "provider adapters on recorded streams, server CPU per run (one run at a time; "
        f"runs: {runs}; {test_runs} on the test model):",
        *(f"  {line}" for line in table(rows, right_aligned=set(range(1, len(rows[0]))))),
        "  fit: CPU per run = intercept + slope * deltas (least squares over the sizes); "
        "fixed overhead = intercept - test model",
    ]


def first_token_lines(scenarios: dict[str, dict[str, Any]]) -> list[str]:
    """The time to first token Corral adds, per adapter: p50, p90, p99 and max."""
    result = scenarios.get("first_token")
    if result is None or not result["figures"]:
        return []
    figures = result["figures"]
    rows = [["adapter", "n", "p50", "p90", "p99", "max"]]
    for name, series in figures["first_token_ms"].items():
        rows.append(
            [
                figures["adapters"][name]["title"],
                str(series["count"]),
                *(number(series[key], 2) for key in ("p50", "p90", "p99", "max")),
            ]
        )
    return [
        "time to first token added by Corral, ms (the fake provider's first byte, held back "
        f"{figures['hold_ms']} ms, to the first message.delta on GET /v1/runs/{{id}}/stream):",
        *(f"  {line}" for line in table(rows, right_aligned={1, 2, 3, 4, 5})),
    ]
