from __future__ import annotations

import orjson
import pytest

from corral.domain.conversation import ToolCall
from corral.runtime.context import Journal, _suppress
from corral.runtime.resume import logged_turn
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


def test_a_turn_logged_after_the_checkpoint_is_taken_from_the_log_not_asked_again():
    journal = Journal.from_events(
        [
            stored(4, "message.delta", text="Let me look"),
            stored(
                5,
                "message.completed",
                text="Let me look",
                tool_calls=[{"call_id": "call_1", "name": "lookup", "input": {"q": "x"}}],
            ),
            stored(6, "usage", input_tokens=120, output_tokens=40, cost_usd=0.5),
        ]
    )

    logged = logged_turn(journal)

    assert logged is not None
    assert logged.turn.text == "Let me look"
    assert logged.turn.tool_calls == [ToolCall(call_id="call_1", name="lookup", input={"q": "x"})]
    assert (logged.turn.input_tokens, logged.turn.output_tokens, logged.cost_usd) == (120, 40, 0.5)
    assert logged.turn.assistant_message().to_json()["content"][-1]["call_id"] == "call_1"
    # Taken once: the next turn is the model's, and its text is not matched against this one.
    assert logged_turn(journal) is None
    assert journal.text == ""


def test_without_a_logged_turn_the_model_is_asked():
    journal = Journal.from_events([stored(1, "run.started"), stored(2, "message.delta", text="a")])

    assert logged_turn(journal) is None
    assert journal.text == "a"
