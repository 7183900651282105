"""The adapter scenarios: the server CPU of a run on each provider adapter, by deltas streamed.

Each runs one adapter on its API's recorded answer (`benchmarks.recorded_streams`) at several
lengths, one run at a time as the latency scenario does, and fits CPU = intercept + slope *
deltas through the sizes: the slope is what one streamed delta costs the server, the intercept
what a model call costs whatever its length. The test model's CPU per run, measured in the same
scenario, is taken off the intercept to leave the provider path's fixed overhead per call.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import orjson

from benchmarks import cpu
from benchmarks.config import TEST_MODEL_RUN, RunSpec
from benchmarks.latency import sequential_runs
from benchmarks.loadgen import JobReport, Recorder
from benchmarks.measurement import Bench, Measurement, split
from benchmarks.recorded_streams import RECORDINGS, Directive, answer_text
from benchmarks.report import percentiles


@dataclass(frozen=True, kw_only=True)
class Adapter:
    """A provider adapter, and the model id whose runs reach it on the fake provider."""

    title: str
    api: str
    """The adapter's API, as the catalog and `RECORDINGS` name it."""
    model: str
    """A catalog model of a provider whose base URL the fake provider's environment sets."""


ADAPTERS = {
    "anthropic": Adapter(
        title="Anthropic Messages", api="anthropic", model="anthropic/claude-haiku-4-5"
    ),
    "responses": Adapter(
        title="OpenAI Responses", api="openai-responses", model="openai/gpt-5-mini"
    ),
    "chat": Adapter(title="Chat Completions", api="openai-chat", model="vllm/replay"),
}
"""The adapters by short name. `gpt-5-mini` is one of the catalog's OpenAI models on the
Responses API; any model name reaches the `vllm` provider, on Chat Completions."""


def adapter_run(
    adapter: Adapter, deltas: int, *, hold_ms: int = 0, tag: str | None = None
) -> bytes:
    """The encoded run whose model call streams `deltas` deltas of the adapter's recording."""
    prompt = Directive(deltas=deltas, hold_ms=hold_ms, tag=tag).prompt()
    return orjson.dumps({"agent_spec": {"model": adapter.model}, "input": prompt})


def _spec(adapter: Adapter, deltas: int) -> RunSpec:
    """A run that must end with the whole scaled answer: a lost or reordered delta fails it."""
    return RunSpec(body=adapter_run(adapter, deltas), output=answer_text(deltas))


@dataclass(kw_only=True)
class Series:
    """One size of an adapter scenario: its runs, the time and the CPU they took, all rounds."""

    deltas: int
    """Text deltas per answer; 0 for the test model's baseline."""
    run: RunSpec
    jobs: list[JobReport] = field(default_factory=list)
    wall_s: float = 0.0
    spent: list[cpu.CpuReading] = field(default_factory=list)

    def measure(self, bench: Bench, runs: int) -> None:
        """Add `runs` timed runs, one at a time, and the CPU they took."""
        before, started = bench.read_cpu(), time.monotonic()
        self.jobs.append(
            bench.pool.run(
                sequential_runs, target=bench.target, runs=runs, warmup_runs=0, run=self.run
            )
        )
        self.wall_s += time.monotonic() - started
        self.spent.append(bench.read_cpu().since(before))

    @property
    def recorder(self) -> Recorder:
        return Recorder.merge([job.recorder for job in self.jobs])

    @property
    def runs(self) -> int:
        recorder = self.recorder
        return recorder.errors + len(recorder.samples_ms.get("latency", []))

    @property
    def server_ms_per_run(self) -> float | None:
        return self._per_run_ms(summed(self.spent).server_s)

    def _per_run_ms(self, seconds: float | None) -> float | None:
        return None if seconds is None or not self.runs else 1000 * seconds / self.runs

    def as_dict(self) -> dict[str, Any]:
        return {
            "deltas": self.deltas,
            "runs": self.runs,
            "wall_s": self.wall_s,
            "server_cpu_ms_per_run": self.server_ms_per_run,
            "provider_cpu_ms_per_run": self._per_run_ms(summed(self.spent).provider_s),
            "latency_ms": percentiles(self.recorder.samples_ms.get("latency", [])),
        }


def fit(points: list[tuple[int, float]]) -> tuple[float, float] | None:
    """Least-squares slope and intercept of (deltas, ms per run); None under two sizes."""
    if len({deltas for deltas, _ in points}) < 2:
        return None
    slope, intercept = statistics.linear_regression(
        [float(deltas) for deltas, _ in points], [ms for _, ms in points]
    )
    return slope, intercept


def _fit_figures(series: list[Series], baseline: Series) -> dict[str, float | None]:
    points = [(s.deltas, s.server_ms_per_run) for s in series]
    line = fit([(deltas, ms) for deltas, ms in points if ms is not None])
    test_ms = baseline.server_ms_per_run
    fitted: dict[str, float | None] = {
        "slope_us_per_delta": None,
        "intercept_ms_per_run": None,
        "test_model_ms_per_run": test_ms,
        "fixed_overhead_ms_per_call": None,
    }
    if line is not None:
        slope_ms, intercept_ms = line
        fitted["slope_us_per_delta"] = 1000 * slope_ms
        fitted["intercept_ms_per_run"] = intercept_ms
        if test_ms is not None:
            fitted["fixed_overhead_ms_per_call"] = intercept_ms - test_ms
    return fitted


def summed(readings: list[cpu.CpuReading]) -> cpu.CpuReading:
    """The CPU of several windows together."""

    def total(values: list[float | None]) -> float | None:
        return None if None in values else sum(v for v in values if v is not None)

    return cpu.CpuReading(
        server_s=total([r.server_s for r in readings]),
        machine_s=sum(r.machine_s for r in readings),
        provider_s=total([r.provider_s for r in readings]),
    )


def _summary(fitted: dict[str, float | None]) -> str:
    slope, intercept = fitted["slope_us_per_delta"], fitted["intercept_ms_per_run"]
    if slope is None or intercept is None:
        return "no server CPU to fit"
    line = f"{slope:.1f} µs/delta + {intercept:.2f} ms/run"
    overhead = fitted["fixed_overhead_ms_per_call"]
    if overhead is not None:
        line += f" (test model {fitted['test_model_ms_per_run']:.2f}, fixed {overhead:+.2f} ms)"
    return line


def adapter_cost(bench: Bench, *, adapter: str) -> Measurement:
    """Server CPU per run at each answer length of `config.adapter_deltas`, and the line fit.

    Every size is primed first (the adapter's first call loads its SDK). Then the test model's
    baseline and the sizes take turns, a share of their runs at a time, over
    `config.adapter_rounds` rounds, so a machine that gets busier or a database that grows
    weighs on every size alike. Only the timed runs' CPU counts.
    """
    config, chosen = bench.config, ADAPTERS[adapter]
    failures: list[str] = []
    for deltas in config.adapter_deltas:
        primed = bench.pool.run(
            sequential_runs,
            target=bench.target,
            runs=0,
            warmup_runs=config.adapter_warmup_runs,
            run=_spec(chosen, deltas),
        )
        failures += [f"warm-up run: {message}" for message in primed.recorder.error_samples]
    baseline = Series(deltas=0, run=TEST_MODEL_RUN)
    series = [Series(deltas=deltas, run=_spec(chosen, deltas)) for deltas in config.adapter_deltas]
    totals = [config.adapter_baseline_runs, *config.adapter_runs]
    everything = [baseline, *series]
    if len(totals) != len(everything):
        raise ValueError("`adapter_runs` needs one count for each size of `adapter_deltas`")
    shares = [split(total, config.adapter_rounds) for total in totals]
    for round_index in range(config.adapter_rounds):
        for one, runs in zip(everything, shares, strict=True):
            if round_index < len(runs):
                one.measure(bench, runs[round_index])
    fitted = _fit_figures(series, baseline)
    return Measurement(
        summary=_summary(fitted),
        count=sum(s.runs for s in everything),
        figures={
            "adapter": chosen.title,
            "model": chosen.model,
            "recording": RECORDINGS[chosen.api].fixture,
            "fit": fitted,
            "test_model": baseline.as_dict(),
            "series": [s.as_dict() for s in series],
            "rounds": config.adapter_rounds,
            "warmup_runs_per_size": config.adapter_warmup_runs,
        },
        jobs=[job for s in everything for job in s.jobs],
        failures=failures,
        window_s=sum(s.wall_s for s in everything),
        window_cpu=summed([reading for s in everything for reading in s.spent]),
    )
