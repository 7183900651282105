"""The benchmark scenarios: what load each one sends, and the figures it reports.

Every scenario has two halves. One is a load coroutine that runs in a load process and records
raw samples. The other runs in the calling process: it places the load jobs, then turns their
merged samples into figures. `run_scenario` runs one scenario against any server. The
benchmark command and the smoke test both use it, so the two cannot drift apart.
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from benchmarks import cpu
from benchmarks.fake_provider import MODEL as PROVIDER_MODEL
from benchmarks.fake_provider import answer_text
from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    Frame,
    JobReport,
    LoadPool,
    Recorder,
    RequestFailed,
    Target,
    open_session,
    post,
    sleep_until,
    sse_frames,
    submit_and_wait,
    submit_run,
)
from benchmarks.report import percentiles


@dataclass(frozen=True, kw_only=True)
class RunSpec:
    """What every run of a scenario asks for, and the output it must end with (if checked)."""

    body: bytes
    """The encoded `POST /v1/runs` request."""
    output: str | None = None


TEST_MODEL_RUN = RunSpec(body=orjson.dumps({"agent_spec": {"model": "test"}, "input": "hello"}))
ECHO_TOOL = {
    "type": "client",
    "name": "echo",
    "description": "echo",
    "parameters": {"type": "object", "properties": {"text": {"type": "string"}}},
}
TOOL_RUN_BODY = orjson.dumps({"agent_spec": {"model": "test", "tools": [ECHO_TOOL]}, "input": "go"})
START_MARGIN_S = 0.5
"""Time given to every load process to open its session before a timed window starts."""
PRIMING_RUNS = 5
"""Untimed runs on the fake provider before a provider scenario starts measuring: the first one
loads the provider SDK into the server, a one-time cost of about a second of CPU."""


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


def _ms(seconds: float) -> float:
    return seconds * 1000


# --- submit → terminal, one at a time -------------------------------------------------------


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
                    recorder.sample("latency", _ms(time.perf_counter() - started))
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
    failures = _prime(bench, run) if provider else []
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
        summary=_latency_line(latency, with_p90=True),
        count=latency["count"],
        figures=figures,
        jobs=[job],
        operations=latency["count"] + config.warmup_runs,
        failures=failures,
        window_s=window_s,
        window_cpu=window_cpu,
    )


def _prime(bench: Bench, run: RunSpec) -> list[str]:
    """Run `PRIMING_RUNS` untimed runs; what went wrong, as failures of the scenario."""
    job = bench.pool.run(
        sequential_runs, target=bench.target, runs=0, warmup_runs=PRIMING_RUNS, run=run
    )
    return [f"priming run: {message}" for message in job.recorder.error_samples]


def _latency_line(latency: dict[str, Any], *, with_p90: bool = False) -> str:
    if not latency["count"]:
        return "no successful run"
    parts = [f"p50 {latency['p50']:.1f}"]
    if with_p90:
        parts.append(f"p90 {latency['p90']:.1f}")
    parts += [f"p99 {latency['p99']:.1f}", f"max {latency['max']:.1f} ms"]
    return "  ".join(parts)


# --- throughput at N concurrent clients -----------------------------------------------------


async def closed_loop_clients(
    target: Target,
    clients: int,
    start_at: float,
    duration_s: float,
    one_request: bool = False,
    run: RunSpec = TEST_MODEL_RUN,
) -> Recorder:
    """`clients` loops of POST + wait from `start_at` for `duration_s`.

    Only runs that end inside the window count; those in flight at its end finish uncounted.
    """
    recorder = Recorder()
    end_at = start_at + duration_s

    async def client(session: aiohttp.ClientSession) -> None:
        while time.monotonic() < end_at:
            started = time.perf_counter()
            succeeded = False
            with recorder.catching():
                await submit_and_wait(
                    session, target, run.body, one_request=one_request, output=run.output
                )
                succeeded = True
            if not succeeded:
                await asyncio.sleep(0.01)  # a failing server must not turn this into a busy loop
            elif time.monotonic() <= end_at:
                recorder.sample("latency", _ms(time.perf_counter() - started))
            else:
                recorder.count("ended_after_window")

    async with open_session(target, connections=clients) as session:
        await sleep_until(start_at)
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return recorder


def throughput(bench: Bench, *, one_request: bool = False, provider: bool = False) -> Measurement:
    """Completed runs per second with `concurrency` clients looping POST + wait.

    With `provider`, every run goes through the fake provider instead of the test model, and
    the provider path is primed before the window opens.
    """
    config = bench.config
    run = config.run_spec(provider=provider)
    duration_s = config.provider_duration_s if provider else config.duration_s
    failures = _prime(bench, run) if provider else []
    shares = split(config.concurrency, bench.pool.processes)
    start_at = time.monotonic() + START_MARGIN_S
    futures = [
        bench.pool.submit(
            closed_loop_clients,
            target=bench.target,
            clients=clients,
            start_at=start_at,
            duration_s=duration_s,
            one_request=one_request,
            run=run,
        )
        for clients in shares
    ]
    time.sleep(max(0.0, start_at - time.monotonic()))
    cpu_at_start = bench.read_cpu()
    time.sleep(max(0.0, start_at + duration_s - time.monotonic()))
    window_cpu = bench.read_cpu().since(cpu_at_start)
    jobs = [future.result() for future in futures]
    recorder = Recorder.merge([job.recorder for job in jobs])
    latency = percentiles(recorder.samples_ms.get("latency", []))
    runs_per_s = latency["count"] / duration_s
    figures: dict[str, Any] = {
        "runs_per_s": runs_per_s,
        "runs_completed": latency["count"],
        "latency_ms": latency,
        "concurrency": config.concurrency,
        "clients_per_process": shares,
        "duration_s": duration_s,
    }
    summary = f"{runs_per_s:.0f} runs/s  {_latency_line(latency)}"
    if provider:
        deltas_per_s = runs_per_s * config.provider_deltas
        figures |= {
            "model": PROVIDER_MODEL,
            "deltas_per_run": config.provider_deltas,
            "deltas_per_s": deltas_per_s,
        }
        summary = (
            f"{runs_per_s:.0f} runs/s ({deltas_per_s:,.0f} deltas/s)  {_latency_line(latency)}"
        )
    return Measurement(
        summary=summary,
        count=latency["count"],
        figures=figures,
        jobs=jobs,
        failures=failures,
        window_s=duration_s,
        window_cpu=window_cpu,
    )


# --- first SSE event ------------------------------------------------------------------------


async def first_event_latency(target: Target, runs: int) -> Recorder:
    """POST a run, open its stream at once, time the first event frame; read to the end."""
    recorder = Recorder()
    async with open_session(target, connections=2) as session:
        for _ in range(runs):
            with recorder.catching():
                await _first_event(session, target, recorder)
    return recorder


async def _first_event(session: aiohttp.ClientSession, target: Target, recorder: Recorder) -> None:
    started = time.perf_counter()
    run_id = await submit_run(session, target, TEST_MODEL_RUN.body)
    first_event_s: float | None = None
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            if first_event_s is None:
                first_event_s = time.perf_counter() - started
            if frame.type in TERMINAL_EVENTS:
                terminal = frame.type
    if first_event_s is None or terminal != "run.completed":
        raise RequestFailed(f"stream of {run_id} closed after terminal event {terminal}")
    recorder.sample("first_event", _ms(first_event_s))
    recorder.sample("stream_closed", _ms(time.perf_counter() - started))


def first_sse_event(bench: Bench) -> Measurement:
    """Time from the start of POST /v1/runs to the first event frame of the run's stream."""
    job = bench.pool.run(first_event_latency, target=bench.target, runs=bench.config.sse_runs)
    first = percentiles(job.recorder.samples_ms.get("first_event", []))
    closed = percentiles(job.recorder.samples_ms.get("stream_closed", []))
    summary = _latency_line(first)
    if closed["count"]:
        summary += f"  (stream closed: p50 {closed['p50']:.1f} ms)"
    return Measurement(
        summary=summary,
        count=first["count"],
        figures={"first_event_ms": first, "stream_closed_ms": closed},
        jobs=[job],
    )


# --- client tool round trip -----------------------------------------------------------------


async def tool_round_trips(target: Target, runs: int) -> Recorder:
    """Runs that call a client tool, answered from the stream as soon as the call arrives."""
    recorder = Recorder()
    async with open_session(target, connections=2) as session:
        for _ in range(runs):
            with recorder.catching():
                await _tool_round_trip(session, target, recorder)
    return recorder


async def _tool_round_trip(
    session: aiohttp.ClientSession, target: Target, recorder: Recorder
) -> None:
    run_id = await submit_run(session, target, TOOL_RUN_BODY)
    called_at: float | None = None
    marks: dict[str, float] = {}
    terminal = None
    async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
        async for frame in sse_frames(response):
            now = time.perf_counter()
            if frame.type == "client_tool.call":
                called_at = now
                answer = {"call_id": orjson.loads(frame.data)["call_id"], "output": "pong"}
                await post(
                    session, target.url(f"/v1/runs/{run_id}/tool-results"), orjson.dumps(answer)
                )
                marks["tool_result_post"] = time.perf_counter() - called_at
            elif called_at is None:
                continue
            elif frame.type == "client_tool.result":
                marks.setdefault("round_trip", now - called_at)
            elif frame.type == "message.delta":
                marks.setdefault("first_delta", now - called_at)
            elif frame.type in TERMINAL_EVENTS:
                terminal = frame.type
                marks["run_completed"] = now - called_at
    missing = {"round_trip", "first_delta", "run_completed"} - marks.keys()
    if terminal != "run.completed" or missing:
        raise RequestFailed(f"run {run_id} ended {terminal}; never saw {sorted(missing)}")
    for name, seconds in marks.items():
        recorder.sample(name, _ms(seconds))


def client_tool_round_trip(bench: Bench) -> Measurement:
    """From the `client_tool.call` frame to the `client_tool.result` frame of our answer."""
    job = bench.pool.run(tool_round_trips, target=bench.target, runs=bench.config.tool_runs)
    series = job.recorder.samples_ms
    round_trip = percentiles(series.get("round_trip", []))
    completed = percentiles(series.get("run_completed", []))
    summary = _latency_line(round_trip)
    if completed["count"]:
        summary += f"  (to run.completed: p50 {completed['p50']:.1f} ms)"
    return Measurement(
        summary=summary,
        count=round_trip["count"],
        figures={
            "round_trip_ms": round_trip,
            "tool_result_post_ms": percentiles(series.get("tool_result_post", [])),
            "to_first_delta_ms": percentiles(series.get("first_delta", [])),
            "to_run_completed_ms": completed,
        },
        jobs=[job],
    )


# --- fan-out of one run to many subscribers -------------------------------------------------


async def create_run(target: Target, body: bytes) -> Recorder:
    """Submit one run; its id is the only record."""
    recorder = Recorder()
    async with open_session(target, connections=1) as session:
        with recorder.catching():
            recorder.records.append({"run_id": await submit_run(session, target, body)})
    return recorder


async def subscribers(target: Target, run_id: str, count: int) -> Recorder:
    """`count` subscribers of one run's stream; one record each, saying what it received."""
    recorder = Recorder()
    async with open_session(target, connections=count) as session:
        await asyncio.gather(*(_subscribe(session, target, run_id, recorder) for _ in range(count)))
    return recorder


@dataclass(kw_only=True)
class Delivery:
    """What one fan-out subscriber received, checked frame by frame as it arrives."""

    deltas: int = 0
    events: int = 0
    gaps: int = 0
    """Frames whose seq was not the previous one plus one (a gap or a reordering)."""
    first_gap: str | None = None
    terminal: str | None = None
    first_delta_at: float | None = None
    last_delta_at: float | None = None
    done_at: float | None = None
    """`time.monotonic()` instants, comparable across the load processes."""

    next_seq: int = 1
    """The seq the next frame must carry: seqs start at 1 and have no gaps."""

    def observe(self, frame: Frame) -> None:
        """Account for the next frame of the stream."""
        self.events += 1
        if frame.seq != self.next_seq:
            self.gaps += 1
            if self.first_gap is None:
                self.first_gap = f"seq {frame.seq} where {self.next_seq} was due"
        self.next_seq = frame.seq + 1
        if frame.type == "message.delta":
            self.deltas += 1
            self.last_delta_at = time.monotonic()
            if self.first_delta_at is None:
                self.first_delta_at = self.last_delta_at
        elif frame.type in TERMINAL_EVENTS:
            self.terminal = frame.type
            self.done_at = time.monotonic()


async def _subscribe(
    session: aiohttp.ClientSession, target: Target, run_id: str, recorder: Recorder
) -> None:
    delivery = Delivery()
    with recorder.catching():
        async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
            async for frame in sse_frames(response):
                delivery.observe(frame)
    recorder.records.append(asdict(delivery))


def fan_out(bench: Bench) -> Measurement:
    """One run streaming many deltas to several subscribers at once."""
    config = bench.config
    prompt = f"[[delay {round(config.fanout_delay_s * 1000)}ms]] [[deltas {config.fanout_deltas}]]"
    created = bench.pool.run(
        create_run,
        target=bench.target,
        body=orjson.dumps({"agent_spec": {"model": "test"}, "input": prompt}),
    )
    if not created.recorder.records:
        return Measurement(
            summary="could not create the run",
            count=0,
            figures={},
            jobs=[created],
            failures=created.recorder.error_samples,
        )
    run_id = created.recorder.records[0]["run_id"]
    futures = [
        bench.pool.submit(subscribers, target=bench.target, run_id=run_id, count=count)
        for count in split(config.fanout_subscribers, bench.pool.processes)
    ]
    jobs = [created, *(future.result() for future in futures)]
    records = Recorder.merge([job.recorder for job in jobs[1:]]).records
    figures = _fan_out_figures(records, config)
    per_subscriber = figures["per_subscriber_events_per_s"]
    summary = "no subscriber received deltas"
    if per_subscriber["count"]:
        summary = (
            f"{figures['aggregate_events_per_s']:,.0f} deltas/s in all; per subscriber "
            f"p50 {per_subscriber['p50']:,.0f}/s, min {per_subscriber['min']:,.0f}/s"
        )
    return Measurement(
        summary=summary,
        count=sum(record["deltas"] for record in records),
        figures=figures,
        jobs=jobs,
        failures=_fan_out_failures(records, config),
    )


def _fan_out_figures(records: list[dict[str, Any]], config: Config) -> dict[str, Any]:
    rates = [
        record["deltas"] / (record["last_delta_at"] - record["first_delta_at"])
        for record in records
        if record["deltas"] > 1 and record["last_delta_at"] > record["first_delta_at"]
    ]
    firsts = [record["first_delta_at"] for record in records if record["first_delta_at"]]
    dones = [record["done_at"] for record in records if record["done_at"]]
    wall_s = max(dones) - min(firsts) if firsts and dones else 0.0
    delivered = sum(record["deltas"] for record in records)
    return {
        "deltas": config.fanout_deltas,
        "subscribers": config.fanout_subscribers,
        "delivered": delivered,
        "delivery_wall_s": wall_s,
        "aggregate_events_per_s": delivered / wall_s if wall_s > 0 else 0.0,
        "per_subscriber_events_per_s": percentiles(rates),
    }


def _fan_out_failures(records: list[dict[str, Any]], config: Config) -> list[str]:
    failures = []
    if len(records) != config.fanout_subscribers:
        failures.append(f"{len(records)} of {config.fanout_subscribers} subscribers reported")
    for index, record in enumerate(records):
        problems = []
        if record["deltas"] != config.fanout_deltas:
            problems.append(f"got {record['deltas']} of {config.fanout_deltas} deltas")
        if record["gaps"]:
            problems.append(f"{record['gaps']} gaps or reorderings, first {record['first_gap']}")
        if record["terminal"] != "run.completed":
            problems.append(f"ended with {record['terminal']}")
        if problems:
            failures.append(f"subscriber {index + 1}: " + "; ".join(problems))
    return failures


# --- running a scenario ---------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A named scenario and the function that measures it."""

    name: str
    title: str
    measure: Callable[[Bench], Measurement]
    provider: bool = False
    """Whether its runs need the fake provider (`benchmarks.fake_provider.FakeProvider`)."""


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in [
        Scenario(name="latency", title="submit→terminal, one at a time", measure=submit_latency),
        Scenario(name="throughput", title="throughput, concurrent clients", measure=throughput),
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
        Scenario(name="fan_out", title="fan-out to subscribers", measure=fan_out),
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
    ]
}


def run_scenario(
    name: str,
    target: Target,
    config: Config,
    pool: LoadPool,
    *,
    server_cpu_s: Callable[[], float] | None = None,
    provider_cpu_s: Callable[[], float] | None = None,
) -> ScenarioResult:
    """Run scenario `name` against the server at `target` and account for the CPU it cost.

    `server_cpu_s` reads the server's CPU seconds so far; without it, the result shows no
    server CPU (for a server that is not a local process). `provider_cpu_s` reads the fake
    provider's; it is reported for the scenarios whose runs it answers.
    """
    scenario = SCENARIOS[name]
    bench = Bench(
        target=target,
        config=config,
        pool=pool,
        server_cpu_s=server_cpu_s,
        # Idle while other scenarios run: its CPU is only theirs to report.
        provider_cpu_s=provider_cpu_s if scenario.provider else None,
    )
    cpu_before = bench.read_cpu()
    started = time.monotonic()
    measured = scenario.measure(bench)
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
