"""What the end-to-end tests share: polling with deadlines, reading streams, checking logs."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from tests.e2e.conftest import Cluster, CorralProcess
from tests.helpers import events, parse_sse

TERMINAL_TYPES = {"run.completed", "run.failed", "run.cancelled", "run.timed_out"}


def client_tool(name: str) -> dict[str, Any]:
    """A client tool reference with no parameters."""
    return {
        "type": "client",
        "name": name,
        "description": f"the caller's tool {name}",
        "parameters": {"type": "object", "properties": {}},
    }


async def api_and_worker(
    cluster: Cluster, database: str, env: dict[str, str]
) -> tuple[CorralProcess, CorralProcess]:
    """(the process serving the API, the worker process) for this database.

    One `corral serve` on SQLite; an API-only node and a `corral worker` on PostgreSQL.
    """
    if database == "sqlite":
        server = await cluster.serve(env)
        return server, server
    server, worker = await asyncio.gather(cluster.serve(env, worker=False), cluster.worker(env))
    return server, worker


async def eventually(
    check: Callable[[], Any], *, timeout_s: float = 10.0, interval_s: float = 0.05
) -> Any:
    """Call `check` (sync or async) until it returns something truthy; fail after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout_s} s")
        await asyncio.sleep(interval_s)


async def get_run(client: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    response = await client.get(f"/v1/runs/{run_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def wait_for_status(
    client: httpx.AsyncClient, run_id: str, *statuses: str, timeout_s: float = 10.0
) -> dict[str, Any]:
    """The run once its status is one of `statuses`."""

    async def reached() -> dict[str, Any] | None:
        run = await get_run(client, run_id)
        return run if run["status"] in statuses else None

    return dict(await eventually(reached, timeout_s=timeout_s))


async def wait_for_event(
    client: httpx.AsyncClient,
    run_id: str,
    event_type: str,
    *,
    count: int = 1,
    timeout_s: float = 10.0,
    **fields: Any,
) -> list[dict[str, Any]]:
    """The run's log once it holds `count` events of this type with these field values."""

    async def logged() -> list[dict[str, Any]] | None:
        log = await events(client, run_id)
        found = [
            e
            for e in log
            if e["type"] == event_type and all(e.get(k) == v for k, v in fields.items())
        ]
        return log if len(found) >= count else None

    return list(await eventually(logged, timeout_s=timeout_s))


def assert_sound_log(log: list[dict[str, Any]], run_id: str) -> dict[str, Any]:
    """Check a run's whole log and return its terminal event.

    The log is numbered 1..n without gaps or duplicates, starts with the only `run.started` and
    ends with the only terminal event.
    """
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1)), [e["seq"] for e in log]
    assert all(e["run_id"] == run_id for e in log)
    types = Counter(e["type"] for e in log)
    assert types["run.started"] == 1, types
    assert log[0]["type"] == "run.started"
    terminal = [e for e in log if e["type"] in TERMINAL_TYPES]
    assert len(terminal) == 1, terminal
    assert log[-1] is terminal[0], log[-1]
    return terminal[0]


def message_text(log: list[dict[str, Any]]) -> str:
    """The text the run streamed, joined from its `message.delta` events."""
    return "".join(e["text"] for e in log if e["type"] == "message.delta")


async def read_stream(
    client: httpx.AsyncClient, path: str, *, timeout_s: float = 15.0
) -> tuple[list[tuple[float, dict[str, Any]]], float]:
    """Every SSE frame of `path` with its arrival time, and the time the server closed it."""
    received: list[tuple[float, dict[str, Any]]] = []
    buffer = b""
    async with asyncio.timeout(timeout_s), client.stream("GET", path) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for chunk in response.aiter_bytes():
            buffer += chunk.replace(b"\r\n", b"\n")
            *blocks, buffer = buffer.split(b"\n\n")
            arrived = time.time()
            for block in blocks:
                received.extend((arrived, frame) for frame in parse_sse(block + b"\n\n"))
    return received, time.time()
