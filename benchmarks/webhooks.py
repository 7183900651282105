"""The `webhooks` scenario: how soon a run's end reaches a webhook endpoint, and how many a second.

A receiver in the load process subscribes to `run.completed` and records each message's arrival
on the wall clock, which it shares with the server on one machine. Latency is the time from the
event's `created_at` (the server's clock, read just before the commit that logs the event and
queues its delivery) to the message's arrival, one run at a time with nothing else in flight.
Throughput is how fast a backlog drains: the receiver holds the sender's requests while many
runs end, so their deliveries wait in the outbox, then lets go and times the rest. Every message
must verify with the endpoint's secret and carry its run's end; the endpoint is deleted at the
end, so later scenarios' runs queue nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter, defaultdict
from datetime import datetime
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from standardwebhooks import Webhook

from benchmarks.config import TEST_MODEL_RUN
from benchmarks.loadgen import Recorder, Target, open_session, post, submit_and_wait
from benchmarks.measurement import Bench, Measurement, ms
from benchmarks.report import percentiles

SERVER_ENVIRON = {"CORRAL_NETWORK_PRIVATE_HOSTS": '["127.0.0.1"]'}
"""The receiver listens on 127.0.0.1, which a server delivers to only when the operator lists it."""

HOLD_LIMIT_S = 7.0
"""Longest the receiver holds a request while the backlog builds: the server gives up on one
after `CORRAL_WEBHOOK_TIMEOUT_S` (10 s) and retries it 5 s later. A slow build lets one batch
through now and then, and the next is held again."""

ARRIVAL_TIMEOUT_S = 30.0


class _Receiver:
    """An endpoint that records when each message arrived, verified, and answers 204."""

    def __init__(self) -> None:
        self.secret = ""
        self.arrivals: dict[str, float] = {}
        """Run id → `time.time()` of its message's first arrival."""
        self.lags_ms: dict[str, float] = {}
        """Run id → from its event's `created_at` to that arrival."""
        self.ids: Counter[str] = Counter()
        self.problems: list[str] = []
        self.gate = asyncio.Event()
        self.gate.set()
        self._arrived: defaultdict[str, asyncio.Event] = defaultdict(asyncio.Event)
        self._runner: web.AppRunner | None = None

    async def start(self) -> str:
        """Listen on a free port of 127.0.0.1; the endpoint's URL."""
        app = web.Application()
        app.router.add_post("/hook", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        return f"http://{host}:{port}/hook"

    async def stop(self) -> None:
        """Stop listening."""
        self.gate.set()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        arrived_at = time.time()
        try:
            message = Webhook(self.secret).verify(body, dict(request.headers))
            run_id = message["data"]["run_id"]
        except Exception as failure:  # noqa: BLE001 - any bad message is a problem to report
            self.problems.append(f"a message failed verification: {failure!r}"[:200])
            return web.Response(status=204)
        self.ids[request.headers["webhook-id"]] += 1
        if message["type"] != "run.completed" or message["data"]["type"] != "run.completed":
            self.problems.append(f"run {run_id}: a {message['type']} message")
        if run_id not in self.arrivals:
            self.arrivals[run_id] = arrived_at
            self.lags_ms[run_id] = ms(arrived_at - _instant(message["timestamp"]))
            self._arrived[run_id].set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.gate.wait(), HOLD_LIMIT_S)
        return web.Response(status=204)

    async def arrival(self, run_id: str) -> float:
        """When `run_id`'s message arrived, waiting for it if need be."""
        await asyncio.wait_for(self._arrived[run_id].wait(), ARRIVAL_TIMEOUT_S)
        return self.arrivals[run_id]


def _instant(timestamp: str) -> float:
    """An API timestamp (RFC 3339, UTC) in seconds since the epoch, as `time.time()`."""
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


async def delivery_load(
    target: Target, runs: int, warmup_runs: int, backlog: int, concurrency: int
) -> Recorder:
    """Register a receiver, time deliveries one run at a time, then drain a backlog.

    One record: the drain's figures and the problems the checks found.
    """
    recorder = Recorder()
    receiver = _Receiver()
    url = await receiver.start()
    async with open_session(target, connections=concurrency + 1) as session:
        webhook_id = None
        try:
            with recorder.catching():
                webhook_id = await _register(session, target, url, receiver)
            if webhook_id is not None:
                await _one_at_a_time(session, target, receiver, recorder, runs, warmup_runs)
                drain = await _drain(session, target, receiver, recorder, backlog, concurrency)
                duplicates = sum(count - 1 for count in receiver.ids.values())
                recorder.records.append(
                    drain | {"duplicates": duplicates, "problems": receiver.problems}
                )
        finally:
            if webhook_id is not None:
                async with session.delete(target.url(f"/v1/webhooks/{webhook_id}")) as response:
                    if response.status != 204:
                        recorder.error(f"DELETE webhook → {response.status}")
            await receiver.stop()
    return recorder


async def _register(
    session: aiohttp.ClientSession, target: Target, url: str, receiver: _Receiver
) -> str:
    body = orjson.dumps({"url": url, "event_types": ["run.completed"], "description": "bench"})
    created = orjson.loads(await post(session, target.url("/v1/webhooks"), body))
    receiver.secret = created["secret"]
    return str(created["id"])


async def _one_at_a_time(
    session: aiohttp.ClientSession,
    target: Target,
    receiver: _Receiver,
    recorder: Recorder,
    runs: int,
    warmup_runs: int,
) -> None:
    """Each run waits for its delivery before the next is submitted."""
    for index in range(warmup_runs + runs):
        with recorder.catching():
            run = await submit_and_wait(session, target, TEST_MODEL_RUN.body)
            await receiver.arrival(run["id"])
            if index >= warmup_runs:
                recorder.sample("delivery", receiver.lags_ms[run["id"]])
                recorder.sample("ended_at_to_arrival", _ended_lag_ms(run, receiver))


def _ended_lag_ms(run: dict[str, Any], receiver: _Receiver) -> float:
    return ms(receiver.arrivals[run["id"]] - _instant(run["ended_at"]))


async def _drain(
    session: aiohttp.ClientSession,
    target: Target,
    receiver: _Receiver,
    recorder: Recorder,
    backlog: int,
    concurrency: int,
) -> dict[str, Any]:
    """Hold the sender's requests while `backlog` runs end, then time the rest arriving."""
    receiver.gate.clear()
    ended: list[str] = []
    remaining = iter(range(backlog))
    built_at = time.monotonic()

    async def client() -> None:
        for _ in remaining:
            with recorder.catching():
                ended.append((await submit_and_wait(session, target, TEST_MODEL_RUN.body))["id"])

    await asyncio.gather(*(client() for _ in range(concurrency)))
    build_s = time.monotonic() - built_at
    early = len(receiver.arrivals.keys() & set(ended))
    released_at = time.time()
    receiver.gate.set()
    arrivals: list[float] = []
    for run_id in ended:
        with recorder.catching():  # a delivery that never came is an error
            arrivals.append(await receiver.arrival(run_id))
    drained = [at for at in arrivals if at >= released_at]
    drain_s = max(arrivals) - released_at if drained else 0.0
    return {
        "backlog": len(ended),
        "backlog_build_s": build_s,
        "arrived_before_release": early,
        "drained": len(drained),
        "drain_s": drain_s,
        "deliveries_per_s": len(drained) / drain_s if drain_s > 0 else None,
    }


def webhook_deliveries(bench: Bench) -> Measurement:
    """Commit→receiver latency one run at a time, and deliveries/s draining a backlog."""
    config = bench.config
    backlog = config.latency_runs
    job = bench.pool.run(
        delivery_load,
        target=bench.target,
        runs=config.tool_runs,
        warmup_runs=config.warmup_runs,
        backlog=backlog,
        concurrency=config.concurrency,
    )
    records = job.recorder.records
    drain = records[0] if records else {}
    latency = percentiles(job.recorder.samples_ms.get("delivery", []))
    figures: dict[str, Any] = {
        "delivery_ms": latency,
        "ended_at_to_arrival_ms": percentiles(
            job.recorder.samples_ms.get("ended_at_to_arrival", [])
        ),
        "warmup_runs": config.warmup_runs,
        **{key: value for key, value in drain.items() if key != "problems"},
    }
    failures = list(drain.get("problems", []))
    if not records:
        failures.append("the scenario did not get to drain a backlog")
    elif drain["backlog"] + job.recorder.errors < backlog:
        failures.append(f"{drain['backlog']} of {backlog} backlog runs ended")
    return Measurement(
        summary=_summary(figures),
        count=latency["count"],
        figures=figures,
        jobs=[job],
        operations=config.warmup_runs + config.tool_runs + backlog,
        failures=failures,
    )


def _summary(figures: dict[str, Any]) -> str:
    latency, rate = figures["delivery_ms"], figures.get("deliveries_per_s")
    if not latency["count"]:
        return "no delivery arrived"
    text = f"commit→receiver p50 {latency['p50']:.1f}  p99 {latency['p99']:.1f} ms"
    if rate is not None:
        text += f"; backlog of {figures['backlog']}: {rate:.0f} deliveries/s"
    return text
