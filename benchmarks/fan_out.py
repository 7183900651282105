"""The `fan_out` scenario: one run streaming many deltas to several subscribers at once.

Each subscriber checks every frame's seq as it arrives, so an event lost or reordered on the way
fails the scenario instead of passing unseen in a rate.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import orjson

from benchmarks.config import Config
from benchmarks.loadgen import (
    TERMINAL_EVENTS,
    Frame,
    Recorder,
    Target,
    open_session,
    sse_frames,
    submit_run,
)
from benchmarks.measurement import Bench, Measurement, split
from benchmarks.report import percentiles


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
    """`message.delta` events: several tokens each when they were produced close together."""
    text: list[str] = field(default_factory=list)
    output: str | None = None
    """The run's answer, from its `run.completed`: what the deltas must add up to."""
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
            self.text.append(orjson.loads(frame.data)["text"])
            self.last_delta_at = time.monotonic()
            if self.first_delta_at is None:
                self.first_delta_at = self.last_delta_at
        elif frame.type in TERMINAL_EVENTS:
            self.terminal = frame.type
            self.output = orjson.loads(frame.data).get("output")
            self.done_at = time.monotonic()

    @property
    def complete(self) -> bool:
        """Whether the deltas carried the whole answer, in order."""
        return self.output is not None and "".join(self.text) == self.output


async def _subscribe(
    session: aiohttp.ClientSession, target: Target, run_id: str, recorder: Recorder
) -> None:
    delivery = Delivery()
    with recorder.catching():
        async with session.get(target.url(f"/v1/runs/{run_id}/stream")) as response:
            async for frame in sse_frames(response):
                delivery.observe(frame)
    record = asdict(delivery)
    record["complete"] = delivery.complete
    del record["text"], record["output"]
    recorder.records.append(record)


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
            f"{figures['aggregate_events_per_s']:,.0f} tokens/s in all "
            f"({figures['delta_events']:,} delta events); per subscriber "
            f"p50 {per_subscriber['p50']:,.0f}/s, min {per_subscriber['min']:,.0f}/s"
        )
    return Measurement(
        summary=summary,
        count=figures["delivered"],
        figures=figures,
        jobs=jobs,
        failures=_fan_out_failures(records, config),
    )


def _fan_out_figures(records: list[dict[str, Any]], config: Config) -> dict[str, Any]:
    """Rates in the model's tokens: deltas produced close together arrive as one event."""
    tokens = config.fanout_deltas
    rates = [
        tokens / (record["done_at"] - record["first_delta_at"])
        for record in records
        if record["complete"] and record["done_at"] > record["first_delta_at"]
    ]
    firsts = [record["first_delta_at"] for record in records if record["first_delta_at"]]
    dones = [record["done_at"] for record in records if record["done_at"]]
    wall_s = max(dones) - min(firsts) if firsts and dones else 0.0
    delivered = sum(tokens for record in records if record["complete"])
    return {
        "deltas": tokens,
        "delta_events": sum(record["deltas"] for record in records),
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
        if not record["complete"]:
            problems.append("the deltas did not add up to the run's output")
        if record["gaps"]:
            problems.append(f"{record['gaps']} gaps or reorderings, first {record['first_gap']}")
        if record["terminal"] != "run.completed":
            problems.append(f"ended with {record['terminal']}")
        if problems:
            failures.append(f"subscriber {index + 1}: " + "; ".join(problems))
    return failures
