"""The sizes of the benchmark, and the run each latency and throughput scenario submits.

Every section reads its sizes from one `Config`, so `--quick` and the smoke test shrink the
whole benchmark in one place.
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from benchmarks.fake_provider import MODEL as PROVIDER_MODEL
from benchmarks.fake_provider import answer_text


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """What every run of a scenario asks for, and the output it must end with (if checked)."""

    body: bytes
    """The encoded `POST /v1/runs` request."""
    output: str | None = None


TEST_MODEL_RUN = RunSpec(body=orjson.dumps({"agent_spec": {"model": "test"}, "input": "hello"}))


@dataclass(frozen=True, kw_only=True)
class Config:
    """Sizes of every scenario; the defaults are the published benchmark."""

    latency_runs: int = 500
    warmup_runs: int = 50
    duration_s: float = 30.0
    concurrency: int = 32
    sse_runs: int = 200
    tool_runs: int = 200
    fanout_deltas: int = 10_000
    fanout_subscribers: int = 10
    fanout_delay_s: float = 1.0
    """How long the fan-out run waits before streaming, so subscribers connect first."""
    provider_deltas: int = 20
    """Content deltas in each answer of the fake provider (it must be started with as many)."""
    provider_duration_s: float = 30.0
    """The throughput window of runs on the fake provider."""
    adapter_deltas: tuple[int, ...] = (20, 200, 2000)
    """Text deltas per answer at each size the adapter scenarios run (two sizes at least: a line
    is fitted through them)."""
    adapter_runs: tuple[int, ...] = (300, 100, 20)
    """Timed runs at each size of `adapter_deltas`: a second or more of server CPU each, so the
    10 ms ticks of /proc weigh about 1%."""
    adapter_baseline_runs: int = 300
    """Timed runs on the test model in each adapter scenario, the baseline of its fixed cost."""
    adapter_rounds: int = 12
    """Turns the sizes and the baseline take, each with a share of its runs, so they share the
    machine's ups and downs (short turns: this VM's regime shifts last a few seconds)."""
    adapter_warmup_runs: int = 3
    """Untimed runs at each size before an adapter scenario measures (the first loads the SDK)."""
    first_token_runs: int = 100
    """Timed runs per adapter of the time-to-first-token scenario."""
    first_token_hold_ms: int = 50
    """How long the fake provider holds each answer back, so the subscriber is there first."""
    first_token_deltas: int = 20
    """Text deltas in each answer of the time-to-first-token scenario."""
    subagent_children: int = 100
    """Child runs the parent of `subagent_fan_out` starts in its one turn (at most the server's
    `CORRAL_SUBAGENT_MAX_CHILDREN`, 100 by default)."""
    subagent_rounds: int = 10
    """Timed rounds of `subagent_fan_out`, one parent and its children each."""
    subagent_warmup_rounds: int = 1
    """Untimed rounds of `subagent_fan_out` before it measures."""
    environment_starts: int = 50
    """Timed environment starts of each kind (fresh and existing workspace), per networking mode."""
    environment_calls: int = 500
    """Timed calls of each kind (`read`, `bash true`) in one warm environment."""
    idle_environments: int = 100
    """Environments alive at once for the idle-memory figure."""
    idle_settle_s: float = 2.0
    """Quiet time before each memory reading, so that start-up transients are over."""

    @classmethod
    def quick(cls) -> Config:
        """Short sizes for a smoke run of about 25 seconds."""
        return cls(
            latency_runs=100,
            warmup_runs=20,
            duration_s=5.0,
            sse_runs=50,
            tool_runs=50,
            provider_duration_s=2.0,
            adapter_runs=(30, 10, 3),
            adapter_baseline_runs=30,
            adapter_rounds=1,
            adapter_warmup_runs=1,
            first_token_runs=10,
            subagent_rounds=3,
            environment_starts=10,
            environment_calls=100,
            idle_environments=20,
        )

    def run_spec(self, *, provider: bool) -> RunSpec:
        """The run of the latency and throughput scenarios: on the test model or the fake provider.

        A provider run must end with the fake provider's whole answer, so a stream that lost or
        reordered deltas counts as an error.
        """
        if not provider:
            return TEST_MODEL_RUN
        body = {"agent_spec": {"model": PROVIDER_MODEL}, "input": "hello"}
        return RunSpec(body=orjson.dumps(body), output=answer_text(self.provider_deltas))
