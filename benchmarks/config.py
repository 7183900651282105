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
