from __future__ import annotations

import asyncio

import pytest

from tests.conftest import LiveServer
from tests.helpers import assert_error, events, parse_sse, submit, wait


async def read_stream(client, path: str, *, headers=None, params=None, until=None, timeout=10):
    """Frames of a stream, read until the server closes it or `until(frames)` holds."""
    frames: list[dict] = []
    buffer = b""
    async with client.stream(
        "GET", path, headers=headers or {}, params=params or {}, timeout=timeout
    ) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        async for chunk in response.aiter_bytes():
            buffer += chunk
            frames = parse_sse(buffer)
            if until is not None and until(frames):
                break
    return frames, buffer


async def test_a_stream_follows_a_run_live_and_closes_after_the_terminal_event(live_server):
    async with live_server.client() as client:
        run = await submit(client, "[[delay 200ms]] [[stream_delay 5ms]] [[deltas 20]]")
        frames, _ = await read_stream(client, f"/v1/runs/{run['id']}/stream")

    assert [int(f["id"]) for f in frames] == list(range(1, len(frames) + 1))
    assert all(f["event"] == f["data"]["type"] for f in frames)
    assert frames[0]["event"] == "run.started"
    assert frames[-1]["event"] == "run.completed"
    deltas = [f["data"]["text"] for f in frames if f["event"] == "message.delta"]
    assert len(deltas) > 1, "the answer arrived in pieces, as it was written"
    assert "".join(deltas) == frames[-1]["data"]["output"]


async def test_a_stream_opened_on_an_ended_run_replays_it_and_closes(live_server):
    async with live_server.client() as client:
        run = await submit(client, "finished already")
        await wait(client, run["id"])
        frames, _ = await read_stream(client, f"/v1/runs/{run['id']}/stream")
        log = await events(client, run["id"])

    assert [f["data"] for f in frames] == log


async def test_a_stream_opened_past_the_terminal_event_closes_at_once(live_server):
    async with live_server.client() as client:
        run = await submit(client, "finished already")
        await wait(client, run["id"])
        log = await events(client, run["id"])
        frames, _ = await read_stream(
            client, f"/v1/runs/{run['id']}/stream", params={"after": log[-1]["seq"]}
        )

    assert frames == []


@pytest.mark.parametrize("how", ["last_event_id", "after"])
async def test_a_reconnect_resumes_after_the_last_seen_event_without_gaps_or_repeats(
    live_server, how
):
    async with live_server.client() as client:
        run = await submit(client, "[[stream_delay 10ms]] [[deltas 40]]")
        first, _ = await read_stream(
            client, f"/v1/runs/{run['id']}/stream", until=lambda frames: len(frames) >= 10
        )
        last_seen = first[9]["id"]
        kwargs = (
            {"headers": {"Last-Event-ID": last_seen}}
            if how == "last_event_id"
            else {"params": {"after": last_seen}}
        )
        rest, _ = await read_stream(client, f"/v1/runs/{run['id']}/stream", **kwargs)
        log = await events(client, run["id"])

    combined = [f["data"] for f in first[:10]] + [f["data"] for f in rest]
    assert combined == log


async def test_many_subscribers_of_one_run_all_get_every_event(live_server):
    async with live_server.client() as client:
        run = await submit(client, "[[delay 300ms]] [[stream_delay 1ms]] [[deltas 200]]")
        results = await asyncio.gather(
            *(read_stream(client, f"/v1/runs/{run['id']}/stream") for _ in range(8))
        )
        log = await events(client, run["id"])

    for frames, _ in results:
        assert [f["data"] for f in frames] == log


async def test_an_idle_stream_sends_keep_alive_comments(make_settings):
    settings = make_settings(sse_heartbeat_s=0.2)
    async with LiveServer(settings) as server, server.client() as client:
        run = await submit(client, "[[delay 1s]] slow")
        _, raw = await read_stream(client, f"/v1/runs/{run['id']}/stream")

    assert raw.count(b": keep-alive") >= 3


async def test_streaming_an_unknown_run_is_not_found(client):
    assert_error(await client.get("/v1/runs/run_nope/stream"), 404, "not_found")


async def test_a_bad_last_event_id_is_rejected(client):
    run = await submit(client, "x")
    response = await client.get(f"/v1/runs/{run['id']}/stream", headers={"Last-Event-ID": "seven"})
    assert_error(response, 400, "invalid_request", "Last-Event-ID")
