"""What a scenario runs with, what it measured, and its result with the CPU it cost.

A scenario's own module turns samples into a `Measurement`; `benchmarks.scenarios.run_scenario`
adds the CPU accounting common to all of them, so every scenario reports CPU the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from benchmarks import cpu
from benchmarks.config import Config
from benchmarks.loadgen import JobReport, LoadPool, Target


@dataclass(frozen=True, kw_only=True)
class Bench:
    """What a scenario runs against and with."""

    target: Target
    config: Config
    pool: LoadPool
    server_cpu_s: Callable[[], float] | None = None
    """Reads the server's CPU seconds so far; None when the server is not ours to watch."""
    provider_cpu_s: Callable[[], float] | None = None
    """Reads the fake provider's CPU seconds so far; None when none is running."""
    provider_url: str | None = None
    """The fake provider's root URL, for scenarios that ask it when it sent what."""

    def read_cpu(self) -> cpu.CpuReading:
        """The server's, the fake provider's and the machine's CPU seconds so far."""
        server_s = self.server_cpu_s() if self.server_cpu_s is not None else None
        provider_s = self.provider_cpu_s() if self.provider_cpu_s is not None else None
        return cpu.CpuReading(
            server_s=server_s, machine_s=cpu.machine_busy_s(), provider_s=provider_s
        )


@dataclass(kw_only=True)
class Measurement:
    """What a scenario measured, before the CPU accounting common to all scenarios."""

    summary: str
    """One line for the table."""
    count: int
    """How many operations the figures are over."""
    figures: dict[str, Any]
    jobs: list[JobReport]
    operations: int | None = None
    """Operations the server served while its CPU was measured, warm-up included (default:
    `count`)."""
    failures: list[str] = field(default_factory=list)
    """Broken guarantees (lost or reordered events), as opposed to failed requests."""
    window_s: float | None = None
    """The timed window, when it is narrower than the whole scenario."""
    window_cpu: cpu.CpuReading | None = None
    """CPU spent during `window_s`."""


@dataclass(kw_only=True)
class ScenarioResult:
    """The figures of one scenario, with the CPU the server and the load generator spent."""

    name: str
    title: str
    summary: str
    count: int
    operations: int
    """Operations served in the CPU window, warm-up included; the divisor of CPU per op."""
    figures: dict[str, Any]
    errors: int
    error_samples: list[str]
    failures: list[str]
    wall_s: float
    server_cpu_s: float | None
    loadgen_cpu_s: float
    loadgen_processes: int
    machine_cpu_s: float
    """CPU all cores spent busy during the scenario, whoever spent it."""
    provider_cpu_s: float | None = None
    """CPU of the fake provider (`benchmarks.fake_provider`), when one was running."""

    @property
    def ok(self) -> bool:
        """Whether every request succeeded and every check passed."""
        return self.errors == 0 and not self.failures

    @property
    def server_cpu_pct(self) -> float | None:
        """Server CPU in percent of one core over the scenario's wall time."""
        if self.server_cpu_s is None or self.wall_s <= 0:
            return None
        return 100 * self.server_cpu_s / self.wall_s

    @property
    def loadgen_cpu_pct(self) -> float:
        """Load generator CPU (all its processes) in percent of one core."""
        return 100 * self.loadgen_cpu_s / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def server_cpu_ms_per_op(self) -> float | None:
        """Server CPU per measured operation: unlike rates, barely moved by a busy machine."""
        if self.server_cpu_s is None or not self.operations:
            return None
        return 1000 * self.server_cpu_s / self.operations

    @property
    def provider_cpu_ms_per_op(self) -> float | None:
        """The fake provider's CPU per measured operation."""
        if self.provider_cpu_s is None or not self.operations:
            return None
        return 1000 * self.provider_cpu_s / self.operations

    @property
    def other_cpu_s(self) -> float | None:
        """CPU spent by everything but the server, the load generator and the fake provider."""
        if self.server_cpu_s is None:
            return None
        ours = self.server_cpu_s + self.loadgen_cpu_s + (self.provider_cpu_s or 0.0)
        return max(0.0, self.machine_cpu_s - ours)

    @property
    def other_cpu_pct(self) -> float | None:
        """`other_cpu_s` in percent of one core."""
        other = self.other_cpu_s
        return None if other is None or self.wall_s <= 0 else 100 * other / self.wall_s

    def as_dict(self) -> dict[str, Any]:
        """Every figure, for the JSON report."""
        return {
            **asdict(self),
            "ok": self.ok,
            "server_cpu_pct": self.server_cpu_pct,
            "loadgen_cpu_pct": self.loadgen_cpu_pct,
            "server_cpu_ms_per_op": self.server_cpu_ms_per_op,
            "provider_cpu_ms_per_op": self.provider_cpu_ms_per_op,
            "other_cpu_s": self.other_cpu_s,
            "other_cpu_pct": self.other_cpu_pct,
        }


def split(total: int, parts: int) -> list[int]:
    """`total` shared as evenly as possible over at most `parts` non-empty parts."""
    parts = max(1, min(parts, total))
    return [total // parts + (1 if index < total % parts else 0) for index in range(parts)]


def ms(seconds: float) -> float:
    """Seconds in milliseconds, the unit of every sample."""
    return seconds * 1000


def latency_line(latency: dict[str, Any], *, with_p90: bool = False) -> str:
    """The table's summary of a latency series: its percentiles, or why there are none."""
    if not latency["count"]:
        return "no successful run"
    parts = [f"p50 {latency['p50']:.1f}"]
    if with_p90:
        parts.append(f"p90 {latency['p90']:.1f}")
    parts += [f"p99 {latency['p99']:.1f}", f"max {latency['max']:.1f} ms"]
    return "  ".join(parts)
