from __future__ import annotations

import pytest

from corral.domain.conversation import parse_messages
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers.base import (
    ModelRequest,
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from corral.providers.scripted import ScriptedModel, example_arguments, parse_script

WEATHER = ToolSchema(
    name="weather",
    description="",
    parameters={
        "type": "object",
        "properties": {
            "city": {"type": "string"},
            "days": {"type": "integer"},
            "unit": {"enum": ["c", "f"]},
            "detail": {"type": "boolean", "default": False},
        },
    },
)


async def play(text: str, *, tools=(), messages=None, instructions="") -> list:
    request = ModelRequest(
        model="test",
        instructions=instructions,
        messages=parse_messages(messages or [{"role": "user", "content": text}]),
        tools=list(tools),
    )
    return [event async for event in ScriptedModel().stream(request)]


def text_of(events) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def test_without_tools_it_echoes_the_user_message_word_by_word():
    events = await play("hello brave new world")

    assert text_of(events) == "hello brave new world"
    assert sum(isinstance(e, TextDelta) for e in events) == 4
    assert events[-1] == Stop("end_turn")
    assert isinstance(events[-2], UsageUpdate)


async def test_with_tools_it_calls_the_first_one_with_arguments_from_its_schema():
    events = await play("go", tools=[WEATHER])

    starts = [e for e in events if isinstance(e, ToolCallStart)]
    arguments = "".join(e.arguments for e in events if isinstance(e, ToolCallDelta))
    assert starts == [ToolCallStart(0, "weather")]
    assert arguments == '{"city":"example","days":1,"unit":"c","detail":false}'
    assert events[-1] == Stop("tool_use")


async def test_after_a_tool_result_it_answers_with_the_result():
    messages = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [{"type": "tool_call", "call_id": "c1", "name": "weather", "input": {}}],
        },
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "call_id": "c1",
                    "name": "weather",
                    "output": "sunny",
                    "is_error": False,
                }
            ],
        },
    ]

    events = await play("", tools=[WEATHER], messages=messages)

    assert text_of(events) == "weather returned: sunny"


async def test_call_directives_script_several_calls_with_given_arguments():
    events = await play('[[call weather {"city": "Oslo"}]] [[call other]]', tools=[WEATHER])

    starts = [e.name for e in events if isinstance(e, ToolCallStart)]
    first_args = "".join(
        e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 0
    )
    assert starts == ["weather", "other"]
    assert first_args == '{"city":"Oslo"}'


@pytest.mark.parametrize(
    ("directive", "expected"),
    [("[[delay 250ms]]", 0.25), ("[[delay 2s]]", 2.0), ("[[delay 1.5]]", 1.5)],
    ids=str,
)
def test_durations_are_read_in_milliseconds_or_seconds(directive, expected):
    script, _ = parse_script(directive)
    assert script.delay_s == expected


async def test_deltas_and_tokens_and_thinking_are_scripted():
    events = await play("[[deltas 50]] [[tokens 7 9]] [[think let me see]]")

    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) == 50
    assert UsageUpdate(7, 9) in events
    assert ThinkingDelta("let me see") in events
    assert ThinkingDelta("", signature="test-signature") in events


async def test_fail_raises_a_provider_error_with_the_given_code():
    with pytest.raises(ProviderError) as raised:
        await play("[[fail provider_overloaded try later]]")
    assert raised.value.code == "provider_overloaded"
    assert raised.value.message == "try later"


async def test_directives_in_the_instructions_apply_and_the_message_can_override():
    events = await play("[[reply from user]]", instructions="[[reply from agent]]")
    assert text_of(events) == "from user"


@pytest.mark.parametrize("text", ["[[explode]]", "[[call x {not json}]]", "[[tokens one]]"])
async def test_bad_directives_fail_clearly(text):
    with pytest.raises(ProviderError, match="test model"):
        await play(text)


def test_example_arguments_cover_the_schema_types():
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "number"},
            "tags": {"type": "array"},
            "maybe": {"type": ["null", "string"]},
            "nested": {"type": "object", "properties": {"ok": {"type": "boolean"}}},
        },
    }
    assert example_arguments(schema) == {
        "n": 1.0,
        "tags": [],
        "maybe": "example",
        "nested": {"ok": True},
    }
