"""The benchmark scenarios by name, and `run_scenario`, which runs one and accounts for its CPU.

Every scenario has two halves. One is a load coroutine that runs in a load process and records
raw samples. The other runs in the calling process: it places the load jobs, then turns their
merged samples into figures. `run_scenario` runs one scenario against any server. The
benchmark command and the smoke test both use it, so the two cannot drift apart.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from benchmarks.adapter_cost import ADAPTERS, adapter_cost
from benchmarks.anthropic_api import facade_overhead, newest_events
from benchmarks.approvals import approval_round_trip
from benchmarks.config import Config
from benchmarks.console import NAME as CONSOLE
from benchmarks.console import console
from benchmarks.fan_out import fan_out
from benchmarks.first_token import first_token
from benchmarks.latency import submit_latency
from benchmarks.loadgen import LoadPool, Recorder, Target
from benchmarks.measurement import Bench, Measurement, ScenarioResult
from benchmarks.routines import routine_fire_latency
from benchmarks.stream_latency import client_tool_round_trip, first_sse_event
from benchmarks.subagents import subagent_fan_out
from benchmarks.throughput import governed_throughput, throughput
from benchmarks.webhooks import SERVER_ENVIRON as WEBHOOK_SERVER_ENVIRON
from benchmarks.webhooks import webhook_deliveries


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named scenario and the function that measures it."""

    name: str
    title: str
    measure: Callable[..., Measurement]
    """Measures it, given the `Bench` (and `server_database=` when `server_process`)."""
    provider: bool = False
    """Whether its runs need the fake provider (`benchmarks.fake_provider.FakeProvider`)."""
    server_environ: Mapping[str, str] = field(default_factory=dict)
    """Settings the server needs for it, given when the scenario is selected."""
    server_process: bool = False
    """Whether it needs the server's database (`console` seeds it)."""


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in [
        Scenario(name="latency", title="submit→terminal, one at a time", measure=submit_latency),
        Scenario(name="throughput", title="throughput, concurrent clients", measure=throughput),
        Scenario(
            name="throughput_governed",
            title="throughput, a vault secret in every run",
            measure=governed_throughput,
        ),
        Scenario(
            name="latency_one_request",
            title="submit→terminal, POST ?wait_s",
            measure=functools.partial(submit_latency, one_request=True),
        ),
        Scenario(
            name="throughput_one_request",
            title="throughput, POST ?wait_s",
            measure=functools.partial(throughput, one_request=True),
        ),
        Scenario(name="first_event", title="first SSE event", measure=first_sse_event),
        Scenario(
            name="client_tool", title="client tool round trip", measure=client_tool_round_trip
        ),
        Scenario(name="approval", title="approval round trip", measure=approval_round_trip),
        Scenario(name="fan_out", title="fan-out to subscribers", measure=fan_out),
        Scenario(
            name="subagent_fan_out",
            title="subagent fan-out, one turn",
            measure=subagent_fan_out,
        ),
        Scenario(
            name="webhooks",
            title="webhook deliveries",
            measure=webhook_deliveries,
            server_environ=WEBHOOK_SERVER_ENVIRON,
        ),
        Scenario(name="routine_fires", title="routine fire latency", measure=routine_fire_latency),
        Scenario(
            name="anthropic_overhead",
            title="session turn, /anthropic vs /v1",
            measure=facade_overhead,
        ),
        Scenario(
            name="anthropic_newest_events",
            title="a long session's newest event, /anthropic",
            measure=newest_events,
        ),
        Scenario(
            name="provider_latency",
            title="submit→terminal, provider adapter",
            measure=functools.partial(submit_latency, provider=True),
            provider=True,
        ),
        Scenario(
            name="provider_throughput",
            title="throughput, provider adapter",
            measure=functools.partial(throughput, provider=True),
            provider=True,
        ),
        *[
            Scenario(
                name=f"adapter_cost_{name}",
                title=f"adapter cost, {adapter.title}",
                measure=functools.partial(adapter_cost, adapter=name),
                provider=True,
            )
            for name, adapter in ADAPTERS.items()
        ],
        Scenario(
            name="first_token",
            title="time to first token added",
            measure=first_token,
            provider=True,
        ),
        # Last: it stores 100,000 runs for a while, which no other scenario should list.
        Scenario(
            name=CONSOLE, title="web console in Chromium", measure=console, server_process=True
        ),
    ]
}


def server_environ(names: Iterable[str]) -> dict[str, str]:
    """The settings the server needs for the scenarios `names`."""
    environ: dict[str, str] = {}
    for name in names:
        environ |= SCENARIOS[name].server_environ
    return environ


def run_scenario(
    name: str,
    target: Target,
    config: Config,
    pool: LoadPool,
    *,
    server_cpu_s: Callable[[], float] | None = None,
    provider_cpu_s: Callable[[], float] | None = None,
    provider_url: str | None = None,
    server_database: tuple[str, str | None] | None = None,
) -> ScenarioResult:
    """Run scenario `name` against the server at `target` and account for the CPU it cost.

    `server_cpu_s` reads the server's CPU seconds so far; without it, the result shows no
    server CPU (for a server that is not a local process). `provider_cpu_s` reads the fake
    provider's; it is reported for the scenarios whose runs it answers. `provider_url` is the
    fake provider's root URL, which `first_token` asks when it sent each answer.
    `server_database` is the server's database URL and schema, which `console` fills.
    """
    scenario = SCENARIOS[name]
    bench = Bench(
        target=target,
        config=config,
        pool=pool,
        server_cpu_s=server_cpu_s,
        # Idle while other scenarios run: its CPU is only theirs to report.
        provider_cpu_s=provider_cpu_s if scenario.provider else None,
        provider_url=provider_url,
    )
    cpu_before = bench.read_cpu()
    started = time.monotonic()
    measure = scenario.measure
    if scenario.server_process:
        measure = functools.partial(measure, server_database=server_database)
    measured = measure(bench)
    wall_s = time.monotonic() - started
    spent = bench.read_cpu().since(cpu_before)
    if measured.window_s is not None and measured.window_cpu is not None:
        wall_s, spent = measured.window_s, measured.window_cpu
    recorder = Recorder.merge([job.recorder for job in measured.jobs])
    return ScenarioResult(
        name=name,
        title=scenario.title,
        summary=measured.summary,
        count=measured.count,
        operations=measured.count if measured.operations is None else measured.operations,
        figures=measured.figures,
        errors=recorder.errors,
        error_samples=recorder.error_samples,
        failures=measured.failures,
        wall_s=wall_s,
        server_cpu_s=spent.server_s,
        loadgen_cpu_s=sum(job.cpu_s for job in measured.jobs),
        loadgen_processes=len({job.pid for job in measured.jobs}),
        machine_cpu_s=spent.machine_s,
        provider_cpu_s=spent.provider_s,
    )
