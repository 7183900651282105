"""A running bash command's output streamed as `tool.output_delta` events, within bounds.

The parts first (the worker's decoder, the environment's relay, the channel's progress frames),
then real runs on both databases: the deltas come in order before the result, join into the start
of the output, stay bounded under a flood, are redacted, and a stream resumed after one repeats
nothing.
"""

from __future__ import annotations

import asyncio
import json
import marshal
import math
import socket
from pathlib import Path
from typing import Any

import orjson
import pytest

from corral.compat.mantyx import translate
from corral.domain.webhooks import EVENT_TYPES
from corral.sandbox.capabilities import probe
from corral.sandbox.channel import Channel, ChannelBroken, Progress
from corral.sandbox.inside import protocol
from corral.sandbox.inside.processes import Relay
from corral.tools.streaming import (
    MAX_DELTA_CHARS,
    MAX_STREAMED_CHARS,
    STREAM_INTERVAL_S,
    OutputStream,
)
from tests.api.test_streaming import read_stream
from tests.helpers import events, submit, wait

needs_sandbox = pytest.mark.skipif(not probe().enforced, reason="bubblewrap is not usable here")

COUNTING = "for i in 1 2 3; do echo line-$i; sleep 0.3; done"


def call(name: str, **arguments: Any) -> str:
    return f"[[call {name} {json.dumps(arguments)}]]"


# --- the worker's decoder -----------------------------------------------------------------------


def test_a_character_split_between_chunks_comes_whole_in_one_piece():
    stream = OutputStream()
    word = "café ✓".encode()

    first = stream.feed(word[:4], now=0.0)  # "caf" and the first byte of "é"
    second = stream.feed(word[4:], now=1.0)

    assert (first, second) == ("caf", "é ✓")


def test_pieces_closer_than_half_the_interval_wait_for_the_next_one_or_the_end():
    stream = OutputStream()
    gap = STREAM_INTERVAL_S / 2

    pieces = [
        stream.feed(b"a", now=10.0),
        stream.feed(b"b", now=10.0 + gap / 2),
        stream.feed(b"c", now=10.0 + gap),
        stream.feed(b"d", now=10.0 + gap + 0.01),
    ]

    assert pieces == ["a", "", "bc", ""]
    assert stream.finish() == "d"


def test_pieces_are_capped_and_the_total_too_then_nothing_more_streams():
    stream = OutputStream()
    chunk = b"x" * (3 * MAX_DELTA_CHARS)

    pieces = [stream.feed(chunk, now=float(second)) for second in range(100)]
    pieces.append(stream.finish())
    shown = [piece for piece in pieces if piece]

    assert all(len(piece) <= MAX_DELTA_CHARS for piece in shown)
    assert sum(map(len, shown)) == MAX_STREAMED_CHARS
    assert len(shown) == math.ceil(MAX_STREAMED_CHARS / MAX_DELTA_CHARS)
    assert stream.feed(b"more", now=1000.0) == ""


def test_the_last_piece_is_at_most_one_and_bytes_that_are_not_utf8_read_as_replacements():
    stream = OutputStream()
    stream.feed(b"y" * 10, now=0.0)
    stream.feed(b"z" * (2 * MAX_DELTA_CHARS) + b"\xff\xe2\x9c", now=0.01)

    last = stream.finish()

    assert last == "z" * MAX_DELTA_CHARS
    assert stream.finish() == ""
    broken = OutputStream()
    assert broken.feed(b"ok \xff\xe2\x9c", now=0.0) == "ok \ufffd"
    assert broken.finish() == "\ufffd"


# --- the environment's relay ----------------------------------------------------------------------


def test_the_relay_sends_spaced_bounded_frames_and_one_last_one():
    sent: list[bytes] = []
    relay = Relay(sent.append, limit=25, frame=10, every_s=0.2, started=5.0)

    assert relay.due_at is None
    relay.feed(b"a" * 12)
    relay.send(now=5.1)  # within the first interval
    due = relay.due_at
    relay.send(now=5.25)
    relay.feed(b"b" * 30)  # past the limit from its 14th byte
    relay.send(now=5.3)  # too soon
    relay.send(now=5.5)
    relay.finish()

    assert due == pytest.approx(5.2)
    assert sent == [b"a" * 10, b"aabbbbbbbb", b"bbbbb"]
    assert relay.due_at is None


def test_a_command_that_ends_within_the_first_interval_relays_nothing():
    sent: list[bytes] = []
    relay = Relay(sent.append, limit=25, frame=10, every_s=0.2, started=1.0)
    relay.feed(b"quick")
    relay.send(now=1.1)
    relay.finish()

    assert sent == []


def test_a_relay_whose_worker_is_gone_stops_without_failing_the_command():
    def gone(data: bytes) -> None:
        raise BrokenPipeError

    relay = Relay(gone, limit=100, frame=10, every_s=0.2, started=0.0)
    relay.feed(b"x" * 20)
    relay.send(now=1.0)
    relay.feed(b"more")

    assert relay.due_at is None
    relay.finish()


# --- progress frames on the channel ---------------------------------------------------------------


async def _pair() -> tuple[Channel, socket.socket]:
    ours, theirs = socket.socketpair()
    carrier, far_end = socket.socketpair()
    far_end.close()
    return await Channel.connect(ours, carrier), theirs


def _request_id(sock: socket.socket) -> int:
    head_bytes, payload_bytes = protocol.lengths(sock.recv(8, socket.MSG_WAITALL))
    head = marshal.loads(sock.recv(head_bytes, socket.MSG_WAITALL))
    if payload_bytes:
        sock.recv(payload_bytes, socket.MSG_WAITALL)
    return int(head["id"])


async def _exchange(frames: list[tuple[dict[str, Any], bytes]], progress: Progress | None) -> Any:
    """Answer one request with `frames` (their ids filled in); what the channel made of it."""
    channel, peer = await _pair()

    async def answer() -> None:
        request_id = await asyncio.to_thread(_request_id, peer)
        for head, payload in frames:
            peer.sendall(protocol.frame(orjson.dumps({"id": request_id, **head}), payload))

    task = asyncio.create_task(answer())
    try:
        return await channel.request("bash", {"command": "x"}, progress=progress)
    finally:
        await task
        channel.close()
        peer.close()


async def test_progress_frames_reach_the_caller_before_the_answer():
    received: list[bytes] = []
    answer = await _exchange(
        [({"progress": True}, b"one "), ({"progress": True}, b"two"), ({"ok": True}, b"")],
        Progress(receive=received.append, max_bytes=10),
    )

    assert answer.ok and received == [b"one ", b"two"]


@pytest.mark.parametrize(
    ("frames", "budget"),
    [
        ([({"progress": True}, b"unasked")], None),
        ([({"progress": True}, b"12345"), ({"progress": True}, b"67")], 6),
        ([({"progress": True}, b"")], 6),
        ([({"progress": True, "padding": "x" * 100}, b"1")], 6),
    ],
    ids=["not-asked-for", "over-the-budget", "empty", "big-head"],
)
async def test_progress_frames_out_of_bounds_break_the_channel(frames, budget):
    progress = Progress(receive=lambda _: None, max_bytes=budget) if budget else None

    with pytest.raises(ChannelBroken, match="out of bounds"):
        await _exchange(frames, progress)


# --- real runs ------------------------------------------------------------------------------------


def _of_call(log: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The deltas of the run's one bash call and its result.

    The deltas are checked to lie between the call's `tool.started` and `tool.completed`.
    """
    types = [e["type"] for e in log]
    started, completed = types.index("tool.started"), types.index("tool.completed")
    deltas = [e for e in log if e["type"] == "tool.output_delta"]
    assert all(started < log.index(d) < completed for d in deltas)
    assert {d["call_id"] for d in deltas} <= {log[started]["call_id"]}
    return deltas, log[completed]


@needs_sandbox
async def test_a_commands_output_streams_in_order_before_its_result(client):
    run = await submit(client, call("bash", command=COUNTING))
    ended = await wait(client, run["id"], timeout_s=60)
    deltas, result = _of_call(await events(client, run["id"]))

    assert ended["status"] == "completed", ended
    assert [d["text"] for d in deltas] == ["line-1\n", "line-2\n", "line-3\n"]
    assert [d["seq"] for d in deltas] == sorted(d["seq"] for d in deltas)
    assert result["output"] == "line-1\nline-2\nline-3\n[exit code 0]"


@needs_sandbox
async def test_a_command_that_ends_at_once_streams_nothing(client):
    run = await submit(client, call("bash", command="echo quick"))
    ended = await wait(client, run["id"], timeout_s=60)
    deltas, result = _of_call(await events(client, run["id"]))

    assert ended["status"] == "completed", ended
    assert deltas == []
    assert result["output"] == "quick\n[exit code 0]"


@needs_sandbox
async def test_a_flood_of_output_streams_only_within_the_bounds(client):
    flood = "timeout 1.5 yes; yes | head -c 50M; echo tail-end"
    run = await submit(client, call("bash", command=flood, timeout_s=60))
    ended = await wait(client, run["id"], timeout_s=90)
    deltas, result = _of_call(await events(client, run["id"]))
    streamed = "".join(d["text"] for d in deltas)

    assert ended["status"] == "completed", ended
    assert 0 < len(streamed) <= MAX_STREAMED_CHARS
    assert all(0 < len(d["text"]) <= MAX_DELTA_CHARS for d in deltas)
    assert len(deltas) <= math.ceil(MAX_STREAMED_CHARS / MAX_DELTA_CHARS) + 1
    assert sum(len(orjson.dumps(d)) for d in deltas) < 100_000  # of 50 MB written
    assert streamed == "y\n" * (len(streamed) // 2)  # the start of the output, nothing skipped
    assert result["output"].startswith("y\ny\n") and "output truncated" in result["output"]
    assert result["output"].endswith("tail-end\n[exit code 0]")


@needs_sandbox
async def test_a_secret_split_between_pieces_is_still_redacted(client):
    value = "sk-split-secret-7c41d0e9"
    response = await client.post("/v1/secrets", json={"name": "SPLIT", "value": value})
    assert response.status_code == 201, response.text
    printing = 'printf "%s" "${V:0:9}"; sleep 0.5; printf "%s done\\n" "${V:9}"'
    run = await submit(
        client,
        call("bash", command=printing),
        agent_spec={"model": "test", "environment": {"variables": {"V": "${secret:SPLIT}"}}},
    )
    ended = await wait(client, run["id"], timeout_s=60)
    deltas, result = _of_call(await events(client, run["id"]))

    assert ended["status"] == "completed", ended
    assert "".join(d["text"] for d in deltas) == "[secret:SPLIT] done\n"
    assert not any(value[:9] in d["text"] for d in deltas)
    assert result["output"] == "[secret:SPLIT] done\n[exit code 0]"


@needs_sandbox
async def test_a_stream_resumed_after_a_delta_repeats_nothing(live_server):
    async with live_server.client() as client:
        run = await submit(client, call("bash", command=COUNTING))
        first, _ = await read_stream(
            client,
            f"/v1/runs/{run['id']}/stream",
            until=lambda frames: any(f["event"] == "tool.output_delta" for f in frames),
            timeout=60,
        )
        cut = next(i for i, f in enumerate(first) if f["event"] == "tool.output_delta")
        rest, _ = await read_stream(
            client,
            f"/v1/runs/{run['id']}/stream",
            headers={"Last-Event-ID": first[cut]["id"]},
            timeout=60,
        )
        log = await events(client, run["id"])

    assert [f["data"] for f in first[: cut + 1] + rest] == log
    assert next(e["text"] for e in log if e["type"] == "tool.output_delta") == "line-1\n"
    assert rest[0]["data"]["seq"] == first[cut]["data"]["seq"] + 1


# --- who sees them ------------------------------------------------------------------------------


def test_deltas_go_to_no_webhook_and_the_mantyx_facade_leaves_them_out():
    delta = {
        "seq": 7,
        "type": "tool.output_delta",
        "run_id": "run_x",
        "created_at": "2026-01-01T00:00:00Z",
        "call_id": "call_1",
        "text": "building\n",
    }

    assert "tool.output_delta" not in EVENT_TYPES
    assert translate.event(delta) is None


def test_the_events_documentation_states_the_bounds_in_force():
    documented = (Path(__file__).parents[2] / "docs" / "events.md").read_text()

    assert f"one piece every {STREAM_INTERVAL_S:g} s" in documented
    assert f"at most {MAX_DELTA_CHARS:,} characters" in documented
    assert f"at most {MAX_STREAMED_CHARS:,} characters in all" in documented
