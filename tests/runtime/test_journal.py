from __future__ import annotations

import orjson
import pytest

from corral.runtime.context import Journal, _suppress
from corral.storage.events import StoredEvent


def stored(seq: int, type_: str, **payload) -> StoredEvent:
    return StoredEvent(seq, type_, orjson.dumps({"seq": seq, "type": type_, **payload}).decode())


def test_the_journal_summarises_what_an_interrupted_attempt_already_logged():
    journal = Journal.from_events(
        [
            stored(1, "run.started", model="test"),
            stored(2, "message.delta", text="Hel"),
            stored(3, "thinking.delta", text="hm"),
            stored(4, "message.delta", text="lo"),
            stored(5, "tool.started", call_id="call_1", name="x", input={}),
        ]
    )

    assert journal.has_started
    assert journal.text == "Hello"
    assert journal.thinking == "hm"
    assert journal.started_tools == {"call_1"}


@pytest.mark.parametrize(
    ("already", "text", "left", "emit"),
    [
        ("", "abc", "", "abc"),
        ("Hello", "Hel", "lo", ""),
        ("Hello", "Hello", "", ""),
        ("Hel", "Hello", "", "lo"),
        ("Hello", "Howdy", "", "Howdy"),
    ],
    ids=["nothing logged", "inside", "exact", "beyond", "diverged"],
)
def test_a_resumed_stream_skips_text_that_was_already_emitted(already, text, left, emit):
    assert _suppress(already, text) == (left, emit)
