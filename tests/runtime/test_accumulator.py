from __future__ import annotations

import itertools

from corral.domain.conversation import ToolCall
from corral.providers.base import (
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from corral.runtime.accumulator import TurnAccumulator


def accumulator() -> TurnAccumulator:
    counter = itertools.count(1)
    return TurnAccumulator(lambda: f"call_{next(counter)}")


def test_text_deltas_are_emitted_and_joined():
    acc = accumulator()

    emitted = [acc.feed(TextDelta("Hel")), acc.feed(TextDelta("")), acc.feed(TextDelta("lo"))]
    result = acc.result()

    assert emitted == [("message.delta", "Hel"), None, ("message.delta", "lo")]
    assert result.text == "Hello"
    assert result.assistant_message().to_json() == {
        "role": "assistant",
        "content": [{"type": "text", "text": "Hello"}],
    }


def test_tool_arguments_streamed_in_pieces_become_one_input_per_call():
    acc = accumulator()
    for event in (
        ToolCallStart(0, "a"),
        ToolCallStart(1, "b"),
        ToolCallDelta(1, '{"x"'),
        ToolCallDelta(0, '{"q": '),
        ToolCallDelta(1, ": 2}"),
        ToolCallDelta(0, '"z"}'),
        UsageUpdate(10, 3),
        Stop("tool_use"),
    ):
        assert acc.feed(event) is None

    result = acc.result()

    assert result.tool_calls == [
        ToolCall(call_id="call_1", name="a", input={"q": "z"}),
        ToolCall(call_id="call_2", name="b", input={"x": 2}),
    ]
    assert (result.input_tokens, result.output_tokens, result.stop_reason) == (10, 3, "tool_use")


def test_empty_arguments_mean_an_empty_object():
    acc = accumulator()
    acc.feed(ToolCallStart(0, "noargs"))
    assert acc.result().tool_calls[0].input == {}


def test_arguments_that_are_not_a_json_object_carry_an_error_for_the_model():
    acc = accumulator()
    acc.feed(ToolCallStart(0, "broken"))
    acc.feed(ToolCallDelta(0, '{"unterminated'))
    acc.feed(ToolCallStart(1, "listy"))
    acc.feed(ToolCallDelta(1, "[1, 2]"))

    result = acc.result()
    broken, listy = result.tool_calls

    assert broken.input == {} and "not valid JSON" in result.argument_errors[broken.call_id]
    assert listy.input == {} and "JSON object" in result.argument_errors[listy.call_id]


def test_thinking_is_kept_with_its_signature_before_the_text():
    acc = accumulator()
    assert acc.feed(ThinkingDelta("hmm ")) == ("thinking.delta", "hmm ")
    acc.feed(ThinkingDelta("yes"))
    acc.feed(ThinkingDelta("", signature="sig"))
    acc.feed(TextDelta("answer"))

    message = acc.result().assistant_message().to_json()

    assert message["content"] == [
        {"type": "thinking", "text": "hmm yes", "signature": "sig"},
        {"type": "text", "text": "answer"},
    ]


def test_a_call_cut_short_without_usage_counts_an_estimate_of_what_it_streamed():
    acc = accumulator()
    acc.feed(ThinkingDelta("abcd"))
    acc.feed(ThinkingDelta("", signature="sig"))
    acc.feed(TextDelta("efghij"))
    acc.feed(ToolCallStart(0, "ls"))
    acc.feed(ToolCallDelta(0, '{"a"'))

    # 4 + 6 + 2 + 4 characters, at four a token.
    assert acc.usage_so_far() == UsageUpdate(0, 4)


def test_a_call_cut_short_keeps_the_usage_its_provider_reported_so_far():
    acc = accumulator()
    acc.feed(UsageUpdate(1200, 1, cache_read_tokens=1000))
    acc.feed(TextDelta("x" * 40))

    assert acc.usage_so_far() == UsageUpdate(1200, 10, cache_read_tokens=1000)
    acc.feed(UsageUpdate(1200, 30, cache_read_tokens=1000))
    assert acc.usage_so_far() == UsageUpdate(1200, 30, cache_read_tokens=1000)
