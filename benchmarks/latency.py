"""The submit→terminal scenarios (`latency`, `latency_one_request`, `provider_latency`).

One run at a time on one connection: with nothing queued ahead of it, the figure is the server's
own path for a run. The same load primes the provider path before a provider scenario measures.
"""

from __future__ import annotations

import time
from typing import Any

from benchmarks.config import TEST_MODEL_RUN, RunSpec
from benchmarks.fake_provider import MODEL as PROVIDER_MODEL
from benchmarks.loadgen import Recorder, Target, open_session, submit_and_wait
from benchmarks.measurement import Bench, Measurement, latency_line, ms
from benchmarks.report import percentiles

PRIMING_RUNS = 5
"""Untimed runs on the fake provider before a provider scenario starts measuring: the first one
loads the provider SDK into the server, a one-time cost of about a second of CPU."""


async def sequential_runs(
    target: Target,
    runs: int,
    warmup_runs: int,
    one_request: bool = False,
    run: RunSpec = TEST_MODEL_RUN,
) -> Recorder:
    """POST a run, wait for it, repeat; one connection, nothing else in flight."""
    recorder = Recorder()
    async with open_session(target, connections=1) as session:
        for index in range(warmup_runs + runs):
            started = time.perf_counter()
            with recorder.catching():
                await submit_and_wait(
                    session, target, run.body, one_request=one_request, output=run.output
                )
                if index >= warmup_runs:
                    recorder.sample("latency", ms(time.perf_counter() - started))
    return recorder


def submit_latency(
    bench: Bench, *, one_request: bool = False, provider: bool = False
) -> Measurement:
    """Submit→terminal latency of one run at a time, after a warm-up.

    With `provider`, every run goes through the fake provider instead of the test model, and
    the provider path is primed before the CPU is measured.
    """
    config = bench.config
    run = config.run_spec(provider=provider)
    failures = prime(bench, run) if provider else []
    cpu_at_start, started = bench.read_cpu(), time.monotonic()
    job = bench.pool.run(
        sequential_runs,
        target=bench.target,
        runs=config.latency_runs,
        warmup_runs=config.warmup_runs,
        one_request=one_request,
        run=run,
    )
    window_s, window_cpu = time.monotonic() - started, bench.read_cpu().since(cpu_at_start)
    latency = percentiles(job.recorder.samples_ms.get("latency", []))
    figures: dict[str, Any] = {"latency_ms": latency, "warmup_runs": config.warmup_runs}
    if provider:
        figures |= {"model": PROVIDER_MODEL, "deltas_per_run": config.provider_deltas}
    return Measurement(
        summary=latency_line(latency, with_p90=True),
        count=latency["count"],
        figures=figures,
        jobs=[job],
        operations=latency["count"] + config.warmup_runs,
        failures=failures,
        window_s=window_s,
        window_cpu=window_cpu,
    )


def prime(bench: Bench, run: RunSpec) -> list[str]:
    """Run `PRIMING_RUNS` untimed runs; what went wrong, as failures of the scenario."""
    job = bench.pool.run(
        sequential_runs, target=bench.target, runs=0, warmup_runs=PRIMING_RUNS, run=run
    )
    return [f"priming run: {message}" for message in job.recorder.error_samples]
