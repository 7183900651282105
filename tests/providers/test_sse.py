"""The event-stream decoder, on hand-written streams and on every recorded provider stream."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from corral.providers.sse import Frame, SSEDecoder
from tests.providers.cassettes import FIXTURES

RECORDED = sorted(FIXTURES.glob("*/*.sse"))


def decoded(*chunks: bytes) -> list[Frame]:
    decoder = SSEDecoder()
    return [frame for chunk in chunks for frame in decoder.feed(chunk)]


def split_at(stream: bytes, cuts: list[int]) -> list[bytes]:
    bounds = [0, *sorted(cuts), len(stream)]
    return [stream[start:end] for start, end in itertools.pairwise(bounds)]


def test_frames_end_at_blank_lines_and_keep_their_event_name():
    stream = b'event: message_start\ndata: {"a":1}\n\ndata: {"b":2}\n\n'
    assert decoded(stream) == [
        Frame(b"message_start", b'{"a":1}'),
        Frame(None, b'{"b":2}'),
    ]


def test_data_lines_join_with_newlines_and_one_leading_space_is_dropped():
    stream = b"data: first\ndata:second\ndata:  third\ndata\n\n"
    assert decoded(stream) == [Frame(None, b"first\nsecond\n third\n")]


def test_comments_ids_retries_and_unknown_fields_are_dropped():
    stream = b": OPENROUTER PROCESSING\n\nid: 7\nretry: 100\nfoo: bar\ndata: x\n\n:\n\n"
    assert decoded(stream) == [Frame(None, b"x")]


def test_an_event_without_data_is_a_frame_and_an_empty_name_is_none():
    assert decoded(b"event: ping\n\nevent:\ndata: y\n\n") == [
        Frame(b"ping", b""),
        Frame(None, b"y"),
    ]


def test_blank_lines_alone_make_no_frames():
    assert decoded(b"\n\n\n\r\n") == []


def test_a_frame_still_open_when_the_stream_ends_is_not_returned():
    decoder = SSEDecoder()
    assert decoder.feed(b"data: whole\n\ndata: half") == [Frame(None, b"whole")]
    assert decoder.feed(b"\n") == []


@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_reads_alike_however_the_stream_is_split(ending):
    stream = b"event: a\ndata: 1\n\n: note\ndata: 2\ndata: 3\n\n".replace(b"\n", ending)
    expected = [Frame(b"a", b"1"), Frame(None, b"2\n3")]
    assert decoded(stream) == expected
    for cut in range(len(stream) + 1):
        assert decoded(stream[:cut], stream[cut:]) == expected, cut
    assert decoded(*(stream[i : i + 1] for i in range(len(stream)))) == expected


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_recorded_streams_decode_alike_whole_and_byte_by_byte(path):
    stream = path.read_bytes()
    whole = decoded(stream)
    assert len(whole) == stream.count(b"\n\n")
    assert all(frame.data for frame in whole)
    assert decoded(*(stream[i : i + 1] for i in range(len(stream)))) == whole
    crlf = stream.replace(b"\n", b"\r\n")
    assert decoded(*(crlf[i : i + 2] for i in range(0, len(crlf), 2))) == whole


STREAM = (FIXTURES / "anthropic" / "messages-stream-text.sse").read_bytes()


@given(st.lists(st.integers(min_value=0, max_value=len(STREAM)), max_size=40))
def test_any_split_of_a_recorded_stream_gives_the_same_frames(cuts):
    assert decoded(*split_at(STREAM, cuts)) == decoded(STREAM)
