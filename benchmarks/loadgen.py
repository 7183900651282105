"""The load generator: worker processes holding keep-alive aiohttp sessions that time API calls.

Load is generated in separate processes, never in the process that starts the server and prints
the report. That way the generator has its own share of the CPUs, and its CPU time can be shown
next to the server's. This module only times calls and records raw samples. It computes no
figures and knows no scenario.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NamedTuple, TypeVar

import aiohttp
import orjson

T = TypeVar("T")

JSON_HEADERS = {"Content-Type": "application/json"}
TERMINAL_STATUSES = frozenset({"completed", "failed", "cancelled", "timed_out"})
TERMINAL_EVENTS = frozenset({"run.completed", "run.failed", "run.cancelled", "run.timed_out"})
WAIT_TIMEOUT_S = 30
_MAX_ERROR_SAMPLES = 5


@dataclass(frozen=True, kw_only=True)
class Target:
    """A running server and the API key to use on it."""

    base_url: str
    api_key: str

    def url(self, path: str) -> str:
        """The absolute URL of an API path."""
        return self.base_url + path


class RequestFailed(Exception):
    """The server answered with an unexpected status or body."""


@dataclass(kw_only=True)
class Recorder:
    """Raw measurements of one load job: named sample series, counters and errors.

    A job returns its recorder to the orchestrating process, which merges the recorders of all
    processes of a scenario before computing figures.
    """

    samples_ms: dict[str, list[float]] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)
    """Structured per-item results (e.g. one per fan-out subscriber)."""

    def sample(self, series: str, value_ms: float) -> None:
        """Add one measurement, in milliseconds, to a series."""
        self.samples_ms.setdefault(series, []).append(value_ms)

    def count(self, name: str, amount: int = 1) -> None:
        """Increase a counter."""
        self.counts[name] = self.counts.get(name, 0) + amount

    def error(self, message: str) -> None:
        """Count one failed operation, keeping the first few distinct messages."""
        self.errors += 1
        if len(self.error_samples) < _MAX_ERROR_SAMPLES and message not in self.error_samples:
            self.error_samples.append(message)

    @contextmanager
    def catching(self) -> Iterator[None]:
        """Count a failed request as an error instead of ending the job."""
        try:
            yield
        except RequestFailed as exc:
            self.error(str(exc))
        except (aiohttp.ClientError, TimeoutError, orjson.JSONDecodeError, KeyError) as exc:
            self.error(f"{type(exc).__name__}: {exc}")

    @classmethod
    def merge(cls, recorders: list[Recorder]) -> Recorder:
        """One recorder holding the measurements of all of them."""
        merged = cls()
        for recorder in recorders:
            for series, values in recorder.samples_ms.items():
                merged.samples_ms.setdefault(series, []).extend(values)
            for name, amount in recorder.counts.items():
                merged.count(name, amount)
            merged.errors += recorder.errors
            for message in recorder.error_samples:
                if len(merged.error_samples) < _MAX_ERROR_SAMPLES:
                    merged.error_samples.append(message)
            merged.records.extend(recorder.records)
        return merged


@dataclass(frozen=True, kw_only=True)
class JobReport:
    """What one load job returns: its measurements and the CPU its process spent on it."""

    recorder: Recorder
    cpu_s: float
    wall_s: float
    pid: int
    """The load process that ran the job."""


LoadFunction = Callable[..., Awaitable[Recorder]]


def _run_coroutine(coroutine: Awaitable[T]) -> T:
    async def main() -> T:
        return await coroutine

    try:
        import uvloop
    except ImportError:  # uvloop comes with uvicorn[standard], but is optional on some platforms
        return asyncio.run(main())
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(main())


def execute(function: LoadFunction, kwargs: dict[str, Any]) -> JobReport:
    """Run one load coroutine in this process (a pool worker) and time its CPU use."""
    cpu_started, wall_started = time.process_time(), time.monotonic()
    recorder = _run_coroutine(function(**kwargs))
    return JobReport(
        recorder=recorder,
        cpu_s=time.process_time() - cpu_started,
        wall_s=time.monotonic() - wall_started,
        pid=os.getpid(),
    )


def _ready(delay_s: float) -> None:
    time.sleep(delay_s)


class LoadPool:
    """A fixed set of load processes, started once and reused by every scenario.

    Processes are spawned, not forked, so they share nothing with the caller (which may be a
    test process with threads and an event loop). A job that sleeps until a common start time
    holds its process, so N such jobs submitted together run in N different processes.
    """

    def __init__(self, processes: int = 2) -> None:
        self.processes = processes
        self._executor = ProcessPoolExecutor(
            max_workers=processes, mp_context=multiprocessing.get_context("spawn")
        )

    def __enter__(self) -> LoadPool:
        # Start every process now (imports included) so no scenario pays for it.
        try:
            for future in [self._executor.submit(_ready, 0.2) for _ in range(self.processes)]:
                future.result()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Stop the processes once their jobs have finished."""
        self._executor.shutdown(wait=True, cancel_futures=True)

    def submit(self, function: LoadFunction, **kwargs: Any) -> Future[JobReport]:
        """Start one load job in a free process."""
        return self._executor.submit(execute, function, kwargs)

    def run(self, function: LoadFunction, **kwargs: Any) -> JobReport:
        """Run one load job in a load process and wait for it."""
        return self.submit(function, **kwargs).result()


def open_session(target: Target, connections: int) -> aiohttp.ClientSession:
    """A client session that keeps up to `connections` keep-alive connections to the target."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    return aiohttp.ClientSession(
        connector=connector,
        headers={"Authorization": f"Bearer {target.api_key}"},
        timeout=aiohttp.ClientTimeout(total=None, connect=10, sock_read=WAIT_TIMEOUT_S + 30),
    )


async def sleep_until(deadline: float) -> None:
    """Sleep until the `time.monotonic()` instant `deadline`, shared by all processes."""
    await asyncio.sleep(max(0.0, deadline - time.monotonic()))


def _unexpected(response: aiohttp.ClientResponse, body: bytes) -> RequestFailed:
    text = body[:200].decode(errors="replace")
    return RequestFailed(f"{response.method} {response.url.path} → {response.status}: {text}")


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> bytes:
    """POST a pre-encoded JSON body; the response body, if the status is 2xx."""
    async with session.post(url, data=body, headers=JSON_HEADERS) as response:
        payload = await response.read()
        if response.status >= 300:
            raise _unexpected(response, payload)
        return payload


async def submit_run(session: aiohttp.ClientSession, target: Target, body: bytes) -> str:
    """Submit a run (`body` is the encoded request) and return its id."""
    payload = await post(session, target.url("/v1/runs"), body)
    return str(orjson.loads(payload)["id"])


async def wait_run(session: aiohttp.ClientSession, target: Target, run_id: str) -> dict[str, Any]:
    """Wait for the run to end; the ended run."""
    url = target.url(f"/v1/runs/{run_id}/wait?timeout_s={WAIT_TIMEOUT_S}")
    async with session.get(url) as response:
        payload = await response.read()
        if response.status != 200:
            raise _unexpected(response, payload)
    run: dict[str, Any] = orjson.loads(payload)
    if run["status"] not in TERMINAL_STATUSES:
        raise RequestFailed(f"run {run_id} still {run['status']} after {WAIT_TIMEOUT_S} s of wait")
    return run


async def submit_and_wait(
    session: aiohttp.ClientSession,
    target: Target,
    body: bytes,
    *,
    one_request: bool = False,
    output: str | None = None,
) -> dict[str, Any]:
    """Submit a run and wait for it to end; raises unless it completed (with `output`, if given).

    Two requests (`POST /v1/runs`, then `GET …/wait`), or with `one_request` a single
    `POST /v1/runs?wait_s=…` that answers once the run has ended.
    """
    if one_request:
        payload = await post(session, target.url(f"/v1/runs?wait_s={WAIT_TIMEOUT_S}"), body)
        run: dict[str, Any] = orjson.loads(payload)
    else:
        run = await wait_run(session, target, await submit_run(session, target, body))
    if run["status"] != "completed":
        raise RequestFailed(f"run {run['id']} ended {run['status']}")
    if output is not None and run["output"] != output:
        raise RequestFailed(f"run {run['id']} answered {run['output']!r}, not {output!r}")
    return run


class Frame(NamedTuple):
    """One server-sent event (comments are not frames)."""

    seq: int
    """The frame id: the event's seq on a run stream (0 when the id is not a number)."""
    type: str
    data: bytes


def parse_frame(block: bytes) -> Frame | None:
    """The frame of one SSE block (the text between blank lines); None for comment-only ones."""
    seq, event_type, data_lines = 0, "message", []
    has_field = False
    for line in block.split(b"\n"):
        if line.startswith(b"data:"):
            data_lines.append(line[5:].removeprefix(b" "))
            has_field = True
        elif line.startswith(b"id:"):
            value = line[3:].strip()
            seq = int(value) if value.isdigit() else 0
            has_field = True
        elif line.startswith(b"event:"):
            event_type = line[6:].strip().decode()
            has_field = True
    return Frame(seq, event_type, b"\n".join(data_lines)) if has_field else None


async def sse_frames(response: aiohttp.ClientResponse) -> AsyncIterator[Frame]:
    """The frames of an event stream, as they arrive, until the server closes it."""
    if response.status != 200:
        raise _unexpected(response, await response.read())
    buffer = b""
    async for chunk in response.content.iter_any():
        buffer += chunk
        if b"\r" in buffer:
            buffer = buffer.replace(b"\r\n", b"\n")
        if b"\n\n" not in buffer:
            continue
        *blocks, buffer = buffer.split(b"\n\n")
        for block in blocks:
            frame = parse_frame(block)
            if frame is not None:
                yield frame
