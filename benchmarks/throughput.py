"""The throughput scenarios: `throughput`, its `_one_request` and `_governed` kinds, `provider_`.

Clients loop POST + wait in every load process at once, so the figure is what the server
sustains when it is never idle; only runs that end inside the timed window count.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import urllib.error
import urllib.request
from typing import Any

import aiohttp
import orjson

from benchmarks.config import TEST_MODEL_RUN, RunSpec
from benchmarks.fake_provider import MODEL as PROVIDER_MODEL
from benchmarks.latency import prime
from benchmarks.loadgen import Recorder, Target, open_session, sleep_until, submit_and_wait
from benchmarks.measurement import Bench, Measurement, latency_line, ms, split
from benchmarks.report import percentiles

START_MARGIN_S = 0.5
"""Time given to every load process to open its session before a timed window starts."""


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
                recorder.sample("latency", ms(time.perf_counter() - started))
            else:
                recorder.count("ended_after_window")

    async with open_session(target, connections=clients) as session:
        await sleep_until(start_at)
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return recorder


def governed_throughput(bench: Bench) -> Measurement:
    """`throughput` with every run naming a secret of the vault in its environment.

    Each submit checks that the secret exists, each run reads and opens it when it starts and
    redacts all it writes. Against a server started without `--no-limits`, the request and
    submit rates are counted too (never reached), so this is the cost of governance beside
    `throughput` on a server started with `--no-limits`.
    """
    store_secret(bench.target, VAULT_SECRET, secrets.token_urlsafe(24))
    return throughput(bench, run=VAULT_RUN)


VAULT_SECRET = "BENCH_TOKEN"
VAULT_RUN = RunSpec(
    body=orjson.dumps(
        {
            "agent_spec": {
                "model": "test",
                "environment": {"variables": {"TOKEN": "${secret:" + VAULT_SECRET + "}"}},
            },
            "input": "hello",
        }
    )
)


def store_secret(target: Target, name: str, value: str) -> None:
    """Put a secret in the vault of the benchmark's workspace (a new version if it exists)."""
    headers = {"Authorization": f"Bearer {target.api_key}", "Content-Type": "application/json"}
    body = orjson.dumps({"name": name, "value": value})
    request = urllib.request.Request(target.url("/v1/secrets"), body, headers, method="POST")
    try:
        urllib.request.urlopen(request, timeout=10).close()
    except urllib.error.HTTPError as error:
        if error.code != 409:
            raise
        again = urllib.request.Request(
            target.url(f"/v1/secrets/{name}"), orjson.dumps({"value": value}), headers, method="PUT"
        )
        urllib.request.urlopen(again, timeout=10).close()


def throughput(
    bench: Bench,
    *,
    one_request: bool = False,
    provider: bool = False,
    run: RunSpec | None = None,
) -> Measurement:
    """Completed runs per second with `concurrency` clients looping POST + wait.

    With `provider`, every run goes through the fake provider instead of the test model, and
    the provider path is primed before the window opens. `run` replaces the scenario's run.
    """
    config = bench.config
    run = run or config.run_spec(provider=provider)
    duration_s = config.provider_duration_s if provider else config.duration_s
    failures = prime(bench, run) if provider else []
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
    summary = f"{runs_per_s:.0f} runs/s  {latency_line(latency)}"
    if provider:
        deltas_per_s = runs_per_s * config.provider_deltas
        figures |= {
            "model": PROVIDER_MODEL,
            "deltas_per_run": config.provider_deltas,
            "deltas_per_s": deltas_per_s,
        }
        summary = f"{runs_per_s:.0f} runs/s ({deltas_per_s:,.0f} deltas/s)  {latency_line(latency)}"
    return Measurement(
        summary=summary,
        count=latency["count"],
        figures=figures,
        jobs=jobs,
        failures=failures,
        window_s=duration_s,
        window_cpu=window_cpu,
    )
