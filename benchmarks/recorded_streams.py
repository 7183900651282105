"""Recorded provider streams, replayed with their text delta frame repeated to any count.

The adapter scenarios must feed each adapter what its real API sends: the framing, the padding,
the headers, the usage and the stop frames. So every answer is a recording from
`tests/fixtures/providers/`, and only what depends on the number of text deltas changes: the
delta frames themselves (the recorded ones, cycled, each with its own text), the frames that
repeat the whole text, and the events' sequence numbers.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

FIXTURES = Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "providers"
"""The recordings (see their README), part of the repository: nothing is downloaded."""

_JSON_STRING = rb'"(?:[^"\\]|\\.)*"'
_SEQUENCE_NUMBER = re.compile(rb'"sequence_number":\d+')
_DROPPED_HEADERS = frozenset(
    {"content-length", "content-encoding", "transfer-encoding", "connection", "keep-alive"}
    | {"date", "server", "set-cookie"}
)
"""Headers the fake's own HTTP layer sets (framing, date, server), and the redacted cookies."""


@dataclass(frozen=True, kw_only=True)
class Recording:
    """One recorded plain-text answer stream, and how to find and rewrite its text deltas."""

    api: str
    """The adapter's API, as the model catalog names it."""
    fixture: str
    """The cassette under `FIXTURES`; its `.sse` side file holds the raw stream."""
    path: str
    """The request path the stream answers."""
    delta_marker: bytes
    """Bytes found in every text delta frame, and in no other frame."""
    text_key: bytes
    """The JSON key whose string value is a delta frame's text."""


RECORDINGS: dict[str, Recording] = {
    recording.api: recording
    for recording in [
        Recording(
            api="anthropic",
            fixture="anthropic/messages-stream-text.json",
            path="/v1/messages",
            delta_marker=b'"type":"text_delta"',
            text_key=b"text",
        ),
        Recording(
            api="openai-responses",
            fixture="openai/responses-stream-text.json",
            path="/v1/responses",
            delta_marker=b"event: response.output_text.delta\n",
            text_key=b"delta",
        ),
        Recording(
            api="openai-chat",
            fixture="openai/chat-stream-text-usage.json",
            path="/v1/chat/completions",
            delta_marker=b'"delta":{"content":',
            text_key=b"content",
        ),
    ]
}


def delta_texts(count: int) -> list[str]:
    """The text of each delta: distinct words, so a lost or reordered delta shows in the output."""
    return [f"{' ' if index else ''}word{index + 1}" for index in range(count)]


def answer_text(count: int) -> str:
    """The whole answer of a stream of `count` deltas, as a completed run's output reads."""
    return "".join(delta_texts(count))


@dataclass(frozen=True, kw_only=True)
class RecordedStream:
    """A recording's response, split where the text deltas are."""

    headers: dict[str, str]
    before: list[bytes]
    """Frames before the first text delta (the stream's and the content block's start)."""
    deltas: list[bytes]
    """The recorded text delta frames."""
    after: list[bytes]
    """Frames after the last text delta (done, usage and stop frames)."""
    text: str
    """The recorded answer: the text of `deltas`, joined."""


def _frames(body: bytes) -> list[bytes]:
    """The SSE blocks of a body, each with its closing blank line."""
    return [block + b"\n\n" for block in body.split(b"\n\n") if block.strip()]


def _headers(recorded: dict[str, Any]) -> dict[str, str]:
    headers = {}
    for name, values in recorded.items():
        if name.lower() in _DROPPED_HEADERS:
            continue
        headers[name] = values if isinstance(values, str) else ", ".join(values)
    return headers


@functools.cache
def load(api: str) -> RecordedStream:
    """The recorded stream of an API's adapter, read once."""
    recording = RECORDINGS[api]
    cassette = orjson.loads((FIXTURES / recording.fixture).read_bytes())
    (response,) = [i["response"] for i in cassette["interactions"] if i["response"].get("sse")]
    frames = _frames((FIXTURES / recording.fixture).with_name(response["sse_file"]).read_bytes())
    marked = [index for index, frame in enumerate(frames) if recording.delta_marker in frame]
    if not marked or marked != list(range(marked[0], marked[-1] + 1)):
        raise ValueError(f"{recording.fixture}: no run of text delta frames")
    deltas = frames[marked[0] : marked[-1] + 1]
    return RecordedStream(
        headers=_headers(response["headers"]),
        before=frames[: marked[0]],
        deltas=deltas,
        after=frames[marked[-1] + 1 :],
        text="".join(_text(frame, recording.text_key) for frame in deltas),
    )


def _text_field(key: bytes) -> re.Pattern[bytes]:
    return re.compile(b'"' + key + b'":' + _JSON_STRING)


def _text(frame: bytes, key: bytes) -> str:
    """The text a delta frame carries under `key`."""
    found = _text_field(key).search(frame)
    if found is None:
        raise ValueError(f"no {key.decode()!r} text in {frame[:80]!r}")
    text: str = orjson.loads(found.group(0).partition(b":")[2])
    return text


def _with_text(frame: bytes, key: bytes, text: str) -> bytes:
    """`frame` with its text under `key` replaced, every other byte (padding too) kept."""
    field = b'"' + key + b'":' + orjson.dumps(text)
    return _text_field(key).sub(lambda _: field, frame, count=1)


def _renumbered(frames: list[bytes]) -> list[bytes]:
    """Frames whose `sequence_number`s count up from 0 again, as the API numbers its events."""
    counter = iter(range(len(frames)))
    return [
        _SEQUENCE_NUMBER.sub(lambda _: b'"sequence_number":%d' % next(counter), frame)
        for frame in frames
    ]


@functools.cache
def scaled(api: str, deltas: int) -> tuple[bytes, ...]:
    """The recorded stream of `api` with `deltas` text delta frames carrying `delta_texts`.

    Delta frame i is recorded delta frame i modulo their number, with its text replaced; frames
    after them that repeat the whole recorded text (the Responses API's done events) repeat the
    new one instead.
    """
    recording, stream = RECORDINGS[api], load(api)
    texts = delta_texts(deltas)
    middle = [
        _with_text(stream.deltas[index % len(stream.deltas)], recording.text_key, text)
        for index, text in enumerate(texts)
    ]
    recorded_whole = b'"text":' + orjson.dumps(stream.text)
    whole = b'"text":' + orjson.dumps("".join(texts))
    after = [frame.replace(recorded_whole, whole) for frame in stream.after]
    return tuple(_renumbered([*stream.before, *middle, *after]))


@dataclass(frozen=True, kw_only=True)
class Directive:
    """What a run's input asks of the fake provider: how many deltas, when, and a tag.

    It travels in the prompt, which every adapter sends, so the fake reads it from the request
    body whatever the API; the runs need no other channel to the fake.
    """

    deltas: int
    hold_ms: int = 0
    """How long the fake holds the answer back before its first byte."""
    tag: str | None = None
    """A name under which the fake records when it sent the first byte."""

    def prompt(self) -> str:
        """The run input that carries this directive."""
        text = f"stream {self.deltas} deltas"
        if self.hold_ms:
            text += f" after {self.hold_ms} ms"
        if self.tag is not None:
            text += f", first byte {self.tag}"
        return text


_DIRECTIVE = re.compile(rb"stream (\d+) deltas(?: after (\d+) ms)?(?:, first byte (\w+))?")


def directive_in(body: bytes) -> Directive | None:
    """The directive a request body carries, if any."""
    found = _DIRECTIVE.search(body)
    if found is None:
        return None
    deltas, hold_ms, tag = found.groups()
    return Directive(
        deltas=int(deltas),
        hold_ms=int(hold_ms or 0),
        tag=tag.decode() if tag is not None else None,
    )
