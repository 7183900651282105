"""The Anthropic adapter against recorded Messages API traffic (tests/fixtures/providers/anthropic).

Expected values are written out from the fixture files; each test names the file it reads.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from corral.domain.conversation import Message, ToolCall, parse_message, parse_messages
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers.anthropic import (
    AnthropicProvider,
    StreamTranslator,
    max_tokens,
    request_params,
    wire_messages,
)
from corral.providers.base import (
    ModelRequest,
    ModelSettings,
    ProviderEvent,
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from corral.runtime.accumulator import TurnAccumulator, TurnResult
from tests.providers.cassettes import Cassette, Interaction, Replay, load, replay

KEY = "sk-ant-test"

# Some recordings use models the SDK now warns are retired.
pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")

WEATHER_AND_TIME = [
    ToolSchema(
        name="get_weather",
        description="Get the current weather in a given location",
        parameters={
            "type": "object",
            "properties": {
                "location": {
                    "type": "string",
                    "description": "The city and state, e.g. San Francisco, CA",
                },
                "unit": {
                    "type": "string",
                    "enum": ["celsius", "fahrenheit"],
                    "description": "The unit of temperature, either 'celsius' or 'fahrenheit'",
                },
            },
            "required": ["location"],
        },
    ),
    ToolSchema(
        name="get_time",
        description="Get the current time in a given time zone",
        parameters={
            "type": "object",
            "properties": {
                "timezone": {
                    "type": "string",
                    "description": "The IANA time zone name, e.g. America/Los_Angeles",
                }
            },
            "required": ["timezone"],
        },
    ),
]


def model_request(cassette: Cassette, **fields: Any) -> ModelRequest:
    fields.setdefault("instructions", "")
    fields["messages"] = [typed(message) for message in fields["messages"]]
    return ModelRequest(api_key=KEY, base_url=cassette.base_url, **fields)


def typed(message: Message | dict[str, Any]) -> Message:
    """A message written out as stored JSON, as the runtime reads it."""
    return message if isinstance(message, Message) else parse_message(message)


async def collect(
    request: ModelRequest, provider: AnthropicProvider | None = None
) -> list[ProviderEvent]:
    owned = provider is None
    provider = provider or AnthropicProvider()
    try:
        return [event async for event in provider.stream(request)]
    finally:
        if owned:
            await provider.aclose()


def fold(events: list[ProviderEvent], prefix: str = "call") -> TurnResult:
    counter = itertools.count(1)
    accumulator = TurnAccumulator(lambda: f"{prefix}_{next(counter)}")
    for event in events:
        accumulator.feed(event)
    return accumulator.result()


def as_blocks(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Recorded messages in the adapter's spelling.

    A string `content` is one text block, and `is_error: false` is the API's default; the
    adapter always sends blocks and names only errors.
    """
    normal = []
    for message in messages:
        content = message["content"]
        if isinstance(content, str):
            content = [{"type": "text", "text": content}]
        blocks = [
            {k: v for k, v in block.items() if not (k == "is_error" and v is False)}
            for block in content
        ]
        normal.append({"role": message["role"], "content": blocks})
    return normal


def assert_sent_like_recorded(cassette: Cassette, index: int, *, fields: tuple[str, ...]) -> None:
    sent = cassette.sent_json(index)
    recorded = cassette.interactions[index].request_body
    assert recorded is not None
    assert cassette.sent[index].path == "/v1/messages"
    headers = {name.lower(): value for name, value in cassette.sent[index].headers.items()}
    assert headers["authorization"] == f"Bearer {KEY}"
    assert sent["messages"] == as_blocks(recorded["messages"])
    for name in fields:
        assert sent[name] == recorded[name], name
    assert bool(sent.get("stream", False)) == bool(recorded.get("stream", False))


# Non-streaming answers


async def test_text_answer_becomes_text_usage_and_end_turn():
    async with replay("anthropic/messages-text") as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-3-opus-20240229",
                messages=[{"role": "user", "content": "Tell me a joke about OpenTelemetry"}],
                max_output_tokens=1024,
                stream=False,
            )
        )

    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens"))
    assert "system" not in cassette.sent_json(0)
    assert "tools" not in cassette.sent_json(0)
    turn = fold(events)
    # messages-text.json, response content[0].text and usage.
    assert turn.text == (
        "Sure, here's a joke about OpenTelemetry:\n\nWhy did the developer adopt OpenTelemetry?\n"
        "Because they wanted to trace their steps and meter their progress!\n\nExplanation:\n"
        "OpenTelemetry is an open-source observability framework that provides a set of APIs, "
        "libraries, and tools to instrument, generate, collect, and export telemetry data "
        "(traces, metrics, and logs) for distributed systems. The joke plays on the words "
        '"trace" and "meter," which are key concepts in OpenTelemetry.\n\n'
        '- "Trace their steps" refers to distributed tracing, which involves recording the path '
        "of a request as it travels through a system of microservices.\n"
        '- "Meter their progress" refers to metrics, which are quantitative measurements of a '
        "system's performance and behavior.\n\n"
        "The joke suggests that the developer adopted OpenTelemetry to gain better visibility and "
        "understanding of their application's behavior and performance, just like how one might "
        "trace their steps and meter their progress in real life."
    )
    assert turn.tool_calls == []
    assert events[-2:] == [UsageUpdate(17, 220), Stop("end_turn")]


async def test_whole_answer_with_text_and_two_tool_calls():
    async with replay("anthropic/messages-tool-use-parallel") as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-3-5-sonnet-20240620",
                messages=[
                    {
                        "role": "user",
                        "content": "What is the weather like right now in New York? "
                        "Also what time is it there now?",
                    }
                ],
                tools=WEATHER_AND_TIME,
                max_output_tokens=1024,
                stream=False,
            )
        )

    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens", "tools"))
    turn = fold(events)
    # messages-tool-use-parallel.json, response content and usage.
    assert turn.text == (
        "Certainly! I'd be happy to help you with both the current weather in New York and the "
        "current time there. Let's use the available tools to get this information for you."
    )
    assert turn.tool_calls == [
        ToolCall(
            call_id="call_1",
            name="get_weather",
            provider_call_id="toolu_012r6TBCWjRHG71j6zruYyUL",
            input={"location": "New York, NY", "unit": "fahrenheit"},
        ),
        ToolCall(
            call_id="call_2",
            name="get_time",
            provider_call_id="toolu_01SkeBKkLCNYWNuivqFerGDd",
            input={"timezone": "America/New_York"},
        ),
    ]
    assert turn.usage == UsageUpdate(514, 152)
    assert turn.stop_reason == "tool_use"


FAMILY_SYSTEM = (
    "\n    Use the `retrieve_entity_info` tool to get information about a specific person.\n"
    "    If you need to use `retrieve_entity_info` to get information about multiple people, try\n"
    "    to call them in parallel as much as possible.\n"
    "    Think step by step and then provide a single most probable concise answer.\n    "
)
ENTITY_INFO = ToolSchema(
    name="retrieve_entity_info",
    description="Get the knowledge about the given entity.",
    parameters={
        "additionalProperties": False,
        "properties": {"name": {"type": "string"}},
        "required": ["name"],
        "type": "object",
    },
)


async def test_four_parallel_calls_and_their_results_round_trip():
    question = {
        "role": "user",
        "content": "Alice, Bob, Charlie and Daisy are a family. Who is the youngest?",
    }
    provider = AnthropicProvider()
    async with replay("anthropic/messages-tool-use-parallel4-roundtrip") as cassette:
        first = fold(
            await collect(
                model_request(
                    cassette,
                    model="claude-haiku-4-5",
                    instructions=FAMILY_SYSTEM,
                    messages=[question],
                    tools=[ENTITY_INFO],
                    max_output_tokens=4096,
                    stream=False,
                ),
                provider,
            )
        )
        # messages-tool-use-parallel4-roundtrip.json, request 1: the four tool results.
        outputs = [
            "alice is bob's wife",
            "bob is alice's husband",
            "charlie is alice's son",
            "daisy is bob's daughter and charlie's younger sister",
        ]
        results = {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "call_id": call.call_id,
                    "name": call.name,
                    "output": output,
                    "is_error": False,
                }
                for call, output in zip(first.tool_calls, outputs, strict=True)
            ],
        }
        conversation = [question, first.assistant_message(), results]
        second = fold(
            await collect(
                model_request(
                    cassette,
                    model="claude-haiku-4-5",
                    instructions=FAMILY_SYSTEM,
                    messages=conversation,
                    tools=[ENTITY_INFO],
                    max_output_tokens=4096,
                    stream=False,
                ),
                provider,
            )
        )
        assert len(provider._clients) == 1
        await provider.aclose()

    # Response 0: text, then four tool_use blocks.
    assert first.text.startswith("I'll help you find out who is the youngest")
    assert [(c.name, c.input, c.provider_call_id) for c in first.tool_calls] == [
        ("retrieve_entity_info", {"name": "Alice"}, "toolu_0167cfEnoQaPviGdVXA95zcu"),
        ("retrieve_entity_info", {"name": "Bob"}, "toolu_01EEe2V5HD1Ac4rKiUR4HD2T"),
        ("retrieve_entity_info", {"name": "Charlie"}, "toolu_01XFyAjstT3966qvRynZyVPo"),
        ("retrieve_entity_info", {"name": "Daisy"}, "toolu_013mnQZbgtK2oe3Mo3XKJsx3"),
    ]
    assert [c.call_id for c in first.tool_calls] == ["call_1", "call_2", "call_3", "call_4"]
    assert first.usage == UsageUpdate(423, 202)
    assert first.stop_reason == "tool_use"
    for index in (0, 1):
        assert_sent_like_recorded(
            cassette, index, fields=("model", "max_tokens", "system", "tools")
        )
    tool_results = cassette.sent_json(1)["messages"][2]["content"]
    assert [r["tool_use_id"] for r in tool_results] == [
        "toolu_0167cfEnoQaPviGdVXA95zcu",
        "toolu_01EEe2V5HD1Ac4rKiUR4HD2T",
        "toolu_01XFyAjstT3966qvRynZyVPo",
        "toolu_013mnQZbgtK2oe3Mo3XKJsx3",
    ]
    # Response 1: the final answer.
    assert second.text.startswith("Based on the retrieved information, we can see")
    assert "Therefore, Daisy is the youngest in the family." in second.text
    assert second.tool_calls == []
    assert second.usage == UsageUpdate(771, 77)
    assert second.stop_reason == "end_turn"


SONNET_SIGNATURE = (
    "EqEECkYICxgCKkAo3UA4WwDbB8ihhpykVCsPx6iMzwNTNP8dePIgYjNpu2EWrt5JbApWWONEZaf5w46939Vu1SDU1//m"
    "Dyr2/Vw+EgzsGM/71Y3P0MXKjXUaDHkHCRdukfBjp1m8TSIwzpBcCTBuNvX8NFjVMEou+UuHA4AtNJpahNT/iGfsTwwo"
    "n4x/mlYNE+EZSDRaLY+jKogD7Bi7ls1t/hhZPrU6wxlcKv6qqXXkGdFSSyrRFvRgG9325pNIk9Dwc/GJriXjj+nGkaNW"
    "MfNLdWHtCj/5fTw+qZQCeeyoxzZAG+3Nxp1d694aCO/DkbTUf2B0JcCKVQBgyeTXmCDkZvSLwdalOb3Al4zV3H0ejqF+"
    "+8r+5p8f67O2MOrxVQHNhJGpIaynvlouJP++FQdTCxUDFlyuvyGYqpijxFFSY0yaZe4KpOaTv4XLZiDwd5WohnKB3JUQ"
    "nh0S5xY7AjDqPccxo0c88qO4XLRAa0TiDO6dP6o9SXz9zUiPxsBwAHymsZL/iomyZqKRJ3AMjKo8cLFWwxWHq8HsCqri"
    "kq/HZ1R8tr2PpMIBH+TJ0FyFMGCYkVqfH0/HzEqGGre8iOA11XCU3r5dwHXHfh4qgRP2lxTrGR7RcSGkNfmdTtziti2w"
    "hEAWKhN0dcgNmRfJ2sKKSo/sNcTAcxOBUgJMB5L0B/ze9H9oDR9WtGspFUsKYkAHvHeBlXKVa+SkcXhw9EK5/JwYAQ=="
)


async def test_whole_answer_thinking_and_signature_are_replayed_with_the_tool_result():
    question = {"role": "user", "content": "What is the largest city in the user country?"}
    country = ToolSchema(
        name="get_user_country",
        description="",
        parameters={"additionalProperties": False, "properties": {}, "type": "object"},
    )
    fields: dict[str, Any] = {
        "model": "claude-sonnet-4-0",
        "tools": [country],
        "max_output_tokens": 4096,
        "settings": ModelSettings(thinking_budget_tokens=3000),
        "stream": False,
    }
    provider = AnthropicProvider()
    async with replay("anthropic/messages-thinking-tool-use-roundtrip") as cassette:
        first = fold(
            await collect(model_request(cassette, messages=[question], **fields), provider)
        )
        call = first.tool_calls[0]
        result = {
            "type": "tool_result",
            "call_id": call.call_id,
            "name": call.name,
            "output": "Mexico",
            "is_error": False,
        }
        conversation = [question, first.assistant_message(), {"role": "tool", "content": [result]}]
        second = fold(
            await collect(model_request(cassette, messages=conversation, **fields), provider)
        )
        await provider.aclose()

    # messages-thinking-tool-use-roundtrip.json, response 0: thinking, text, tool_use.
    assert [block.to_json() for block in first.thinking] == [
        {
            "type": "thinking",
            "text": 'The user is asking about the largest city in "the user country". To '
            "answer this question, I first need to determine what country the user is from. I "
            'have access to a function called "get_user_country" that can help me find out the '
            "user's country. Once I know the country, I can then provide information about its "
            "largest city.\n\nLet me call the get_user_country function first.",
            "signature": SONNET_SIGNATURE,
        }
    ]
    assert first.text == (
        "I'll help you find the largest city in your country. "
        "First, let me determine which country you're from."
    )
    assert call.provider_call_id == "toolu_01YGzqpRE16Vricda3Aqcejo"
    assert call.input == {}
    assert first.usage == UsageUpdate(398, 155)
    assert first.stop_reason == "tool_use"
    for index in (0, 1):
        assert_sent_like_recorded(
            cassette, index, fields=("model", "max_tokens", "tools", "thinking")
        )
    # Response 1: the final answer.
    assert second.text.startswith("Based on the information that you're from Mexico, the largest")
    assert "**Mexico City** (Ciudad de México)" in second.text
    assert second.usage == UsageUpdate(566, 126)
    assert second.stop_reason == "end_turn"


# Streams


async def test_streamed_text_yields_usage_text_usage_stop_in_order():
    async with replay("anthropic/messages-stream-text") as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-haiku-4-5-20251001",
                messages=[{"role": "user", "content": "Say just hello"}],
                settings=ModelSettings(temperature=1.0),
            )
        )

    # The default max_tokens (8192) is what the recording asked for too.
    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens", "temperature", "stream"))
    # messages-stream-text.sse: message_start usage (10 in, 2 out), "Hello", message_delta (4 out).
    assert events == [
        UsageUpdate(10, 2),
        TextDelta("Hello"),
        UsageUpdate(10, 4),
        Stop("end_turn"),
    ]


QUESTION = {"role": "user", "content": "Say just hello"}


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("messages-stream-text", 0),
        ("messages-stream-tool-use-parallel", 0),
        ("messages-stream-thinking-tool-use-roundtrip", 0),
        ("messages-stream-tool-use-noargs-roundtrip", 0),
    ],
)
async def test_a_stream_read_a_byte_at_a_time_gives_the_same_events(name, index):
    async def events(**options: Any) -> list[ProviderEvent]:
        async with replay(f"anthropic/{name}", order=[index], **options) as cassette:
            return await collect(
                model_request(cassette, model="claude-haiku-4-5", messages=[QUESTION])
            )

    whole = await events()
    assert isinstance(whole[-1], Stop)
    assert await events(chunk_size=1) == whole


async def test_streamed_text_then_two_tool_calls_indexed_by_content_block():
    async with replay("anthropic/messages-stream-tool-use") as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-3-5-sonnet-20240620",
                messages=[
                    {
                        "role": "user",
                        "content": "What is the weather and current time in San Francisco?",
                    }
                ],
                tools=WEATHER_AND_TIME,
                max_output_tokens=1024,
            )
        )

    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens", "tools", "stream"))
    # messages-stream-tool-use.sse: text block 0, tool_use blocks 1 and 2.
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert starts == [
        ToolCallStart(1, "get_weather", call_id="toolu_014x5X91kx3fvdhpLvwXZWE2"),
        ToolCallStart(2, "get_time", call_id="toolu_0121kXsENLvoDZ72LCuAnCCz"),
    ]
    turn = fold(events)
    assert turn.text == (
        "Certainly! I can help you with that information. To get the weather and current time in "
        "San Francisco, I'll need to use two separate functions. Let me fetch that data for you."
    )
    assert [(c.name, c.input, c.provider_call_id) for c in turn.tool_calls] == [
        (
            "get_weather",
            {"location": "San Francisco, CA", "unit": "celsius"},
            "toolu_014x5X91kx3fvdhpLvwXZWE2",
        ),
        ("get_time", {"timezone": "America/Los_Angeles"}, "toolu_0121kXsENLvoDZ72LCuAnCCz"),
    ]
    # message_start says 506 in / 5 out; message_delta carries only output_tokens (153).
    assert events[0] == UsageUpdate(506, 5)
    assert turn.usage == UsageUpdate(506, 153)
    assert turn.stop_reason == "tool_use"


async def test_streamed_parallel_tool_calls_reassemble_their_fragments():
    plus_minus = [
        ToolSchema(
            name=name,
            description="",
            parameters={
                "properties": {
                    "a": {"title": "A", "type": "integer"},
                    "b": {"title": "B", "type": "integer"},
                },
                "required": ["a", "b"],
                "type": "object",
            },
        )
        for name in ("plus", "minus")
    ]
    prompt = (
        "Use the plus tool to sum 1 and 2. Use the minus tool to subtract 1 from 2. "
        "Use both tools at the same time."
    )
    async with replay("anthropic/messages-stream-tool-use-parallel") as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-3-opus-20240229",
                messages=[{"role": "user", "content": prompt}],
                tools=plus_minus,
                max_output_tokens=1024,
            )
        )

    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens", "tools", "stream"))
    # messages-stream-tool-use-parallel.sse: plus at block 0, minus at block 1.
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 1] == [
        '{"a',
        '": 2',
        ', "b',
        '": ',
        "1}",
    ]
    turn = fold(events)
    assert turn.text == ""
    assert [(c.name, c.input, c.provider_call_id) for c in turn.tool_calls] == [
        ("plus", {"a": 1, "b": 2}, "toolu_01CM7Nqnu3tF2UqzksSCxsqt"),
        ("minus", {"a": 2, "b": 1}, "toolu_01MGZBHepZSnpCrVLDT34yxu"),
    ]
    assert turn.usage == UsageUpdate(469, 104)
    assert turn.stop_reason == "tool_use"


async def test_streamed_calls_without_arguments_round_trip_with_empty_input():
    question = {"role": "user", "content": "Two names for a pet pelican"}
    pelican = ToolSchema(
        name="pelican_name_generator",
        description="",
        parameters={"properties": {}, "type": "object"},
    )
    fields: dict[str, Any] = {
        "model": "claude-haiku-4-5-20251001",
        "tools": [pelican],
        "settings": ModelSettings(temperature=1.0),
    }
    provider = AnthropicProvider()
    async with replay("anthropic/messages-stream-tool-use-noargs-roundtrip") as cassette:
        first = fold(
            await collect(model_request(cassette, messages=[question], **fields), provider)
        )
        results = {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "call_id": call.call_id,
                    "name": call.name,
                    "output": output,
                    "is_error": False,
                }
                # messages-stream-tool-use-noargs-roundtrip.json, request 1: the tool outputs.
                for call, output in zip(first.tool_calls, ["Charles", "Sammy"], strict=True)
            ],
        }
        conversation = [question, first.assistant_message(), results]
        second = fold(
            await collect(model_request(cassette, messages=conversation, **fields), provider)
        )
        await provider.aclose()

    # messages-stream-tool-use-noargs-roundtrip.0.sse: two tool_use blocks, partial_json "".
    assert [(c.name, c.input, c.provider_call_id) for c in first.tool_calls] == [
        ("pelican_name_generator", {}, "toolu_01LtHJmixrs9NcWQkK8hu8hj"),
        ("pelican_name_generator", {}, "toolu_01N8a4jWyf116qKTMqKKmjyt"),
    ]
    assert first.tool_calls[0].call_id not in first.argument_errors
    assert first.usage == UsageUpdate(542, 62)
    assert first.stop_reason == "tool_use"
    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens", "tools", "stream"))
    # The recording client put a " " text block before its tool calls; this turn had no text,
    # so Corral sends none. Everything else of request 1 must match.
    recorded = cassette.interactions[1].request_body
    assert recorded is not None
    assert recorded["messages"][1]["content"][0] == {"type": "text", "text": " "}
    del recorded["messages"][1]["content"][0]
    assert_sent_like_recorded(cassette, 1, fields=("model", "max_tokens", "tools", "stream"))
    # .1.sse: the final text.
    assert second.text == (
        "Here are two great names for your pet pelican:\n\n"
        "1. **Charles** - A sophisticated and dignified name, perfect for a pelican with "
        "personality!\n"
        "2. **Sammy** - A friendly and playful name that gives off warm, approachable vibes.\n\n"
        "Either of these would make an excellent name for your feathered friend! 🦅"
    )
    assert second.usage == UsageUpdate(678, 82)
    assert second.stop_reason == "end_turn"


HAIKU_SIGNATURE = (
    "EoQDCm0IDhgCKkCDzGs2kL2PgnDCZU/nM2wG2P1VIXCRHVnhDDzBQxNF1fl4QBXEKLxRItNJ2MwFdW9eeZPhsxSQIxD5"
    "4cv3zs29MhljbGF1ZGUtaGFpa3UtNC01LTIwMjUxMDAxOABCCHRoaW5raW5nEgy/OWlwTmmqUjC6L70aDJ4P0R5NfuIe"
    "9U5zAiIwCxPduXS2UxCNxJCee3i91qK3cAyAgxCjL2wkQ5UD56iX1hXGOyuNaiH5k+dF5OCQKsQBxiAo+NjC61hV8nRY"
    "taiP+C4inOcuMKuTG9Z1rysxTXkKBTl3oMiOlnEPHHPpKpg4sYF2G5VoTg8JTon20hdZw4GfTEVupnU1qAmnMqyAgke9"
    "SoV7HBW/PyA/FxL/q33xJ2gKFiD+BsgI9Z0koMmFKCvm2MoYE6u+ONEwKdFQXL1FKRW6t/bYbJGrLJLwxilsL82h9j4x"
    "jggjMn8Npvpn+zsrDPW/8PuLd4Pu+/EsjoneYwyxQQtUVgzhVGhhANWRjSBwUxgB"
)


async def test_streamed_thinking_and_signature_are_replayed_with_the_tool_result():
    question = {
        "role": "user",
        "content": "Use the fixed_version tool. Then tell me the version and make one short "
        "joke about it. Think about it first.",
    }
    fixed_version = ToolSchema(
        name="fixed_version",
        description="Return a fixed test version string",
        parameters={"properties": {}, "type": "object"},
    )
    fields: dict[str, Any] = {
        "model": "claude-haiku-4-5-20251001",
        "tools": [fixed_version],
        "max_output_tokens": 64000,
        "settings": ModelSettings(temperature=1.0, thinking_budget_tokens=1024),
    }
    provider = AnthropicProvider()
    async with replay("anthropic/messages-stream-thinking-tool-use-roundtrip") as cassette:
        first_events = await collect(
            model_request(cassette, messages=[question], **fields), provider
        )
        first = fold(first_events)
        call = first.tool_calls[0]
        result = {
            "type": "tool_result",
            "call_id": call.call_id,
            "name": call.name,
            "output": "0.32a0",
            "is_error": False,
        }
        conversation = [question, first.assistant_message(), {"role": "tool", "content": [result]}]
        second = fold(
            await collect(model_request(cassette, messages=conversation, **fields), provider)
        )
        await provider.aclose()

    # messages-stream-thinking-tool-use-roundtrip.0.sse: two thinking_delta pieces (and an
    # empty one), a signature_delta, then tool_use at block 1.
    assert [e for e in first_events if isinstance(e, ThinkingDelta)] == [
        ThinkingDelta("The user wants me to:\n1"),
        ThinkingDelta(
            ". Use the fixed_version tool\n2. Tell them the version\n3. Make a short joke about "
            "it\n\nLet me first call the fixed_version tool to see what version it returns."
        ),
        ThinkingDelta("", signature=HAIKU_SIGNATURE),
    ]
    assert [block.to_json() for block in first.thinking] == [
        {
            "type": "thinking",
            "text": "The user wants me to:\n1. Use the fixed_version tool\n2. Tell them the version"
            "\n3. Make a short joke about it\n\nLet me first call the fixed_version tool to see "
            "what version it returns.",
            "signature": HAIKU_SIGNATURE,
        }
    ]
    assert (
        ToolCallStart(1, "fixed_version", call_id="toolu_01825dXWLSoJwCst1qTsiWdb") in first_events
    )
    assert call.input == {}
    # message_delta: 598 in, 92 out, of which thinking_tokens 53.
    assert first.usage == UsageUpdate(598, 92, reasoning_tokens=53)
    assert first.stop_reason == "tool_use"
    for index in (0, 1):
        assert_sent_like_recorded(
            cassette, index, fields=("model", "max_tokens", "tools", "temperature", "stream")
        )
        # The recording also asked for `"display": "summarized"`, which Corral leaves to the API.
        assert cassette.sent_json(index)["thinking"] == {"type": "enabled", "budget_tokens": 1024}
    replayed = cassette.sent_json(1)["messages"][1]["content"][0]
    assert replayed["type"] == "thinking"
    assert replayed["signature"] == HAIKU_SIGNATURE
    # .1.sse: the final text.
    assert second.text == (
        "The version is **0.32a0**.\n\nHere's a joke about it: \n\nLooks like this version is "
        'still in alpha testing... I guess you could say it\'s going through a "0.32a good time" '
        "before becoming stable! 😄\n\n(It's at version 0.32a, which means it's far from 1.0, "
        "so plenty of room to grow!)"
    )
    assert second.thinking == []
    assert second.usage == UsageUpdate(707, 89)
    assert second.stop_reason == "end_turn"


# Failures


@pytest.mark.parametrize(
    ("name", "model", "stream", "code", "status"),
    [
        ("error-401-authentication", "claude-sonnet-4-0", False, "provider_auth_error", 401),
        ("error-401-authentication-stream", "claude-sonnet-4-0", True, "provider_auth_error", 401),
        (
            "error-404-not-found",
            "this-model-does-not-exist-12345",
            False,
            "invalid_model",
            404,
        ),
    ],
    ids=["401", "401-stream", "404"],
)
async def test_error_answers_become_provider_errors(name, model, stream, code, status):
    async with replay(f"anthropic/{name}") as cassette:
        recorded = cassette.interactions[0].request_body
        assert recorded is not None
        with pytest.raises(ProviderError) as caught:
            await collect(
                model_request(
                    cassette,
                    model=model,
                    messages=[{"role": "user", "content": recorded["messages"][0]["content"]}],
                    max_output_tokens=16000,
                    stream=stream,
                )
            )

    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens"))
    assert len(cassette.sent) == 1  # no retries inside the SDK
    assert caught.value.code == code
    assert caught.value.status == status
    assert caught.value.retryable is False


async def test_invalid_request_answer_is_a_non_retryable_provider_error():
    async with replay("anthropic/error-400-invalid-request") as cassette:
        with pytest.raises(ProviderError) as caught:
            await collect(
                model_request(
                    cassette,
                    model="claude-opus-4-6",
                    messages=[{"role": "user", "content": "What is 2+2?"}],
                    max_output_tokens=4096,
                    stream=False,
                )
            )

    # The recorded request also carried output_config.effort, which Corral does not send.
    assert_sent_like_recorded(cassette, 0, fields=("model", "max_tokens"))
    error = caught.value
    assert (error.code, error.status, error.retryable) == ("provider_error", 400, False)
    # error-400-invalid-request.json, response error.message.
    assert "This model does not support effort level 'xhigh'" in error.message


@pytest.mark.parametrize("cut", [200, 700, 1100], ids=["in-start", "in-block", "before-delta"])
async def test_a_stream_cut_off_midway_is_a_retryable_provider_error(cut):
    async with replay("anthropic/messages-stream-text", cut_after={0: cut}) as cassette:
        with pytest.raises(ProviderError) as caught:
            await collect(
                model_request(
                    cassette,
                    model="claude-haiku-4-5-20251001",
                    messages=[{"role": "user", "content": "Say just hello"}],
                )
            )

    assert caught.value.code == "provider_error"
    assert caught.value.retryable is True


async def test_a_missing_key_fails_before_any_request():
    request = ModelRequest(model="claude-haiku-4-5", instructions="", messages=[])
    with pytest.raises(ProviderError) as caught:
        await collect(request)
    assert caught.value.code == "missing_provider_key"


# Edited streams. The fixtures hold no mid-stream `error` event, no stream that ends cleanly
# before `message_stop` and no non-zero cache counts (see the fixtures README), so these tests
# serve the recorded messages-stream-text body edited by hand, each edit named in the test.

STREAM_TEXT = load("anthropic/messages-stream-text").interactions[0]


def edited_stream_text(body: bytes) -> Cassette:
    """A cassette answering with `body` in place of the recorded messages-stream-text stream."""
    edited = Interaction(
        method=STREAM_TEXT.method,
        url=STREAM_TEXT.url,
        request_body=STREAM_TEXT.request_body,
        status=200,
        headers={"Content-Type": "text/event-stream; charset=utf-8"},
        body=body,
    )
    return Cassette(name="anthropic/messages-stream-text (edited)", interactions=[edited])


def recorded_events(count: int) -> bytes:
    """The first `count` server-sent events of the recorded stream, byte for byte."""
    return b"".join(event + b"\n\n" for event in STREAM_TEXT.body.split(b"\n\n")[:count])


async def stream_until_failure(cassette: Cassette) -> tuple[list[ProviderEvent], ProviderError]:
    provider = AnthropicProvider()
    events: list[ProviderEvent] = []
    try:
        with pytest.raises(ProviderError) as caught:
            async for event in provider.stream(
                model_request(
                    cassette,
                    model="claude-haiku-4-5-20251001",
                    messages=[{"role": "user", "content": "Say just hello"}],
                )
            ):
                events.append(event)
    finally:
        await provider.aclose()
    return events, caught.value


@pytest.mark.parametrize(
    ("error_type", "code", "status"),
    [("overloaded_error", "provider_overloaded", 529), ("api_error", "provider_error", 500)],
)
async def test_an_error_event_mid_stream_is_a_retryable_provider_error(error_type, code, status):
    # Edit: after message_start, an `error` event in the documented shape.
    error_event = (
        b'event: error\ndata: {"type":"error","error":{"type":"%s","message":"edited"}}\n\n'
        % error_type.encode()
    )
    async with Replay(edited_stream_text(recorded_events(1) + error_event)) as cassette:
        events, error = await stream_until_failure(cassette)

    assert events == [UsageUpdate(10, 2)]
    assert (error.code, error.status, error.retryable) == (code, status, True)


@pytest.mark.parametrize("count", [4, 6], ids=["after-content_block_delta", "after-message_delta"])
async def test_a_stream_that_closes_before_message_stop_is_a_retryable_provider_error(count):
    # Edit: the stream ends, cleanly, after `count` events of the recording.
    async with Replay(edited_stream_text(recorded_events(count))) as cassette:
        events, error = await stream_until_failure(cassette)

    assert TextDelta("Hello") in events
    assert (error.code, error.retryable) == ("provider_error", True)


async def test_cached_input_counts_within_input_tokens():
    # Edit: cache_read_input_tokens 0 -> 1800 and cache_creation_input_tokens 0 -> 300 in
    # message_start and message_delta.
    body = STREAM_TEXT.body.replace(
        b'"cache_creation_input_tokens":0,"cache_read_input_tokens":0',
        b'"cache_creation_input_tokens":300,"cache_read_input_tokens":1800',
    )
    assert body.count(b'"cache_read_input_tokens":1800') == 2
    async with Replay(edited_stream_text(body)) as cassette:
        events = await collect(
            model_request(
                cassette,
                model="claude-haiku-4-5-20251001",
                messages=[{"role": "user", "content": "Say just hello"}],
            )
        )

    assert [e for e in events if isinstance(e, UsageUpdate)] == [
        UsageUpdate(2110, 2, cache_read_tokens=1800, cache_write_tokens=300),
        UsageUpdate(2110, 4, cache_read_tokens=1800, cache_write_tokens=300),
    ]


def test_cache_counts_from_message_start_survive_a_delta_without_them():
    # Synthetic events: older streams (messages-stream-tool-use.sse) send only output_tokens in
    # message_delta; here message_start also carries cache counts.
    translator = StreamTranslator()
    start = {
        "type": "message_start",
        "message": {
            "id": "msg_1",
            "type": "message",
            "role": "assistant",
            "model": "claude-haiku-4-5",
            "content": [],
            "stop_reason": None,
            "stop_sequence": None,
            "usage": {
                "input_tokens": 12,
                "cache_read_input_tokens": 1800,
                "cache_creation_input_tokens": 0,
                "output_tokens": 1,
            },
        },
    }
    delta = {
        "type": "message_delta",
        "delta": {"stop_reason": "max_tokens", "stop_sequence": None},
        "usage": {"output_tokens": 40},
    }
    assert translator.feed(start) == [UsageUpdate(1812, 1, cache_read_tokens=1800)]
    assert translator.feed(delta) == [
        UsageUpdate(1812, 40, cache_read_tokens=1800),
        Stop("max_tokens"),
    ]


# Request translation


def test_tool_results_and_a_following_user_message_share_one_user_turn():
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "go"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "text": "unsigned"},
                {"type": "thinking", "text": "openai", "signature": "enc", "id": "rs_1"},
                {"type": "text", "text": ""},
                {
                    "type": "tool_call",
                    "call_id": "call_a",
                    "name": "ls",
                    "input": {},
                    "provider_call_id": "toolu_a",
                },
                {"type": "tool_call", "call_id": "call_b", "name": "ls", "input": {"p": 1}},
            ],
        },
        {
            "role": "tool",
            "content": [
                {
                    "type": "tool_result",
                    "call_id": "call_a",
                    "name": "ls",
                    "output": "boom",
                    "is_error": True,
                },
                {
                    "type": "tool_result",
                    "call_id": "call_b",
                    "name": "ls",
                    "output": "",
                    "is_error": False,
                },
            ],
        },
        {"role": "user", "content": "and then?"},
    ]
    assert wire_messages(parse_messages(messages)) == [
        {"role": "user", "content": [{"type": "text", "text": "go"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "toolu_a", "name": "ls", "input": {}},
                {"type": "tool_use", "id": "call_b", "name": "ls", "input": {"p": 1}},
            ],
        },
        {
            "role": "user",
            "content": [
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_a",
                    "content": "boom",
                    "is_error": True,
                },
                {"type": "tool_result", "tool_use_id": "call_b"},
                {"type": "text", "text": "and then?"},
            ],
        },
    ]


def test_an_assistant_turn_with_nothing_to_send_is_dropped_and_users_merge():
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": [{"type": "thinking", "text": "x", "id": "rs_1"}]},
        {"role": "user", "content": "two"},
    ]
    assert wire_messages(parse_messages(messages)) == [
        {
            "role": "user",
            "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}],
        }
    ]


@pytest.mark.parametrize(
    ("model", "budget", "expected"),
    [
        ("claude-3-haiku-20240307", None, 4096),
        ("claude-3-5-haiku-latest", None, 8192),
        ("claude-sonnet-4-5", None, 8192),
        ("claude-sonnet-4-5", 10_000, 18_192),
    ],
)
def test_default_max_tokens_fits_the_family_and_exceeds_the_thinking_budget(
    model, budget, expected
):
    request = ModelRequest(
        model=model,
        instructions="",
        messages=[],
        settings=ModelSettings(thinking_budget_tokens=budget),
    )
    assert max_tokens(request) == expected


def test_request_leaves_out_what_is_not_set():
    params = request_params(
        ModelRequest(
            model="claude-haiku-4-5",
            instructions="",
            messages=parse_messages([{"role": "user", "content": "hi"}]),
        )
    )
    assert params == {
        "model": "claude-haiku-4-5",
        "max_tokens": 8192,
        "messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}],
    }
