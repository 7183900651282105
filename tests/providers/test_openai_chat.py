"""The Chat Completions adapter against recorded OpenAI traffic.

Expected values are copied from the fixture files named in each test; the recorded request is
the reference for what the adapter must send.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest

from corral.domain.conversation import Message, ToolCall, ToolResult, parse_messages
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers.base import (
    ModelRequest,
    ModelSettings,
    ProviderEvent,
    Stop,
    TextDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)
from corral.providers.openai_chat import OpenAIChatProvider
from corral.runtime.accumulator import TurnAccumulator, TurnResult
from tests.providers.cassettes import Cassette, Replay, load, replay

# --- helpers, shared with test_openai_compatible.py ---------------------------------------


@contextlib.asynccontextmanager
async def adapter(name: str = "openai", **options: Any) -> AsyncIterator[OpenAIChatProvider]:
    """An adapter whose SDK clients are closed afterwards."""
    provider = OpenAIChatProvider(name, **options)
    try:
        yield provider
    finally:
        await provider.aclose()


async def collect(
    provider: OpenAIChatProvider, cassette: Cassette, request: ModelRequest, *, prefix: str = "/v1"
) -> list[ProviderEvent]:
    """Every event of one call, made against the replaying server."""
    request = replace(request, base_url=cassette.base_url + prefix)
    return [event async for event in provider.stream(request)]


_CALL_IDS = itertools.count(1)
"""Corral's call ids are unique across a conversation, as the runtime's are."""


def turn(events: list[ProviderEvent]) -> TurnResult:
    """The finished turn the runtime would make of the events."""
    accumulator = TurnAccumulator(lambda: f"corral_{next(_CALL_IDS)}")
    for event in events:
        accumulator.feed(event)
    return accumulator.result()


def tools_of(body: dict[str, Any]) -> list[ToolSchema]:
    """The tools of a recorded request, as Corral describes them."""
    return [
        ToolSchema(
            name=tool["function"]["name"],
            description=tool["function"].get("description", ""),
            parameters=tool["function"]["parameters"],
        )
        for tool in body.get("tools", [])
    ]


def normalized(body: dict[str, Any]) -> dict[str, Any]:
    """What the adapter decides in a request, comparable as JSON values.

    Argument strings are parsed; an absent `content` counts as null; fields Corral never sends
    (`tool_choice`, `n`, `strict`…) are left out.
    """
    return {
        "model": body["model"],
        "messages": [_normalized_message(message) for message in body["messages"]],
        "tools": [
            {
                "name": tool["function"]["name"],
                "description": tool["function"].get("description", ""),
                "parameters": tool["function"]["parameters"],
            }
            for tool in body.get("tools", [])
        ],
        "stream": body.get("stream", False),
    }


def _normalized_message(message: dict[str, Any]) -> dict[str, Any]:
    result = {"role": message["role"], "content": message.get("content")}
    if message.get("tool_calls"):
        result["tool_calls"] = [
            {
                "id": call["id"],
                "type": call["type"],
                "name": call["function"]["name"],
                "arguments": json.loads(call["function"]["arguments"]),
            }
            for call in message["tool_calls"]
        ]
    for key in ("tool_call_id", "reasoning_content"):
        if key in message:
            result[key] = message[key]
    return result


def tool_results(calls: list[ToolCall], outputs: list[str]) -> Message:
    """The Corral tool message answering `calls` (with Corral's own call ids)."""
    return Message(
        "tool",
        tuple(
            ToolResult(call_id=call.call_id, name=call.name, output=output, is_error=False)
            for call, output in zip(calls, outputs, strict=True)
        ),
    )


# --- non-streaming -------------------------------------------------------------------------

SAY_THIS_IS_A_TEST = ModelRequest(
    model="gpt-4o-mini",
    instructions="",
    messages=parse_messages([{"role": "user", "content": "Say this is a test"}]),
    api_key="sk-test",
    stream=False,
)


async def test_a_plain_request_answers_with_text_and_usage():
    async with replay("openai/chat-text") as cassette, adapter() as provider:
        events = await collect(provider, cassette, SAY_THIS_IS_A_TEST)

    sent = cassette.sent[0]
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["Authorization"] == "Bearer sk-test"
    assert normalized(sent.json()) == normalized(cassette.interactions[0].request_body or {})
    # openai/chat-text.json: content "This is a test.", usage 12 in / 5 out, finish "stop"
    assert events == [
        TextDelta("This is a test."),
        UsageUpdate(input_tokens=12, output_tokens=5),
        Stop("end_turn"),
    ]


WEATHER_QUESTION = "What's the weather in Seattle and San Francisco today?"


async def test_parallel_tool_calls_come_back_with_results_under_openai_call_ids():
    async with (
        replay("openai/chat-tool-calls-parallel-roundtrip") as cassette,
        adapter() as provider,
    ):
        recorded = [i.request_body or {} for i in cassette.interactions]
        request = ModelRequest(
            model="gpt-4o-mini",
            instructions="You're a helpful assistant.",
            messages=parse_messages([{"role": "user", "content": WEATHER_QUESTION}]),
            tools=tools_of(recorded[0]),
            stream=False,
        )
        first = turn(await collect(provider, cassette, request))
        conversation = [
            *request.messages,
            first.assistant_message(),
            tool_results(first.tool_calls, ["50 degrees and raining", "70 degrees and sunny"]),
        ]
        second = turn(await collect(provider, cassette, replace(request, messages=conversation)))

    # chat-tool-calls-parallel-roundtrip.json, response 0: two get_current_weather calls
    assert first.text == ""
    assert [(c.name, c.input, c.provider_call_id) for c in first.tool_calls] == [
        ("get_current_weather", {"location": "Seattle, WA"}, "call_JpNb8OiAkbIbHzDggfpdDHpi"),
        ("get_current_weather", {"location": "San Francisco, CA"}, "call_vaFQc3zK6hHTRZKXRI5Eo2cJ"),
    ]
    assert first.usage == UsageUpdate(input_tokens=75, output_tokens=51)
    assert first.stop_reason == "tool_use"
    # Both requests as recorded: the second quotes the calls and answers them by OpenAI's ids.
    # (The recorded client left the tools out of its second request; Corral offers them again.)
    assert normalized(cassette.sent_json(0)) == normalized(recorded[0])
    assert {**normalized(cassette.sent_json(1)), "tools": []} == normalized(recorded[1])
    # response 1: the final text, usage 99 / 25
    assert second.text == (
        "Today, the weather in Seattle is 50 degrees and raining, while in San Francisco, "
        "it's 70 degrees and sunny."
    )
    assert second.usage == UsageUpdate(input_tokens=99, output_tokens=25)
    assert second.stop_reason == "end_turn"


# --- streaming -----------------------------------------------------------------------------


async def test_a_stream_yields_text_deltas_then_the_usage_chunk_then_stop():
    request = replace(SAY_THIS_IS_A_TEST, model="gpt-4", stream=True)
    async with replay("openai/chat-stream-text-usage") as cassette, adapter() as provider:
        events = await collect(provider, cassette, request)

    sent = cassette.sent_json(0)
    assert normalized(sent) == normalized(cassette.interactions[0].request_body or {})
    assert sent["stream_options"] == {"include_usage": True}
    # openai/chat-stream-text-usage.sse: five content deltas (the first, empty, one is no
    # event), finish "stop", then a `choices: []` chunk with usage 12 / 5
    assert events == [
        TextDelta('"This'),
        TextDelta(" is"),
        TextDelta(" a"),
        TextDelta(" test"),
        TextDelta('."'),
        UsageUpdate(input_tokens=12, output_tokens=5),
        Stop("end_turn"),
    ]


async def test_parallel_tool_calls_stream_in_fragments_by_index():
    async with replay("openai/chat-stream-tool-calls-parallel") as cassette, adapter() as provider:
        recorded = cassette.interactions[0].request_body or {}
        request = ModelRequest(
            model="gpt-4o-mini",
            instructions="You're a helpful assistant.",
            messages=parse_messages([{"role": "user", "content": WEATHER_QUESTION}]),
            tools=tools_of(recorded),
        )
        events = await collect(provider, cassette, request)

    assert normalized(cassette.sent_json(0)) == normalized(recorded)
    # openai/chat-stream-tool-calls-parallel.sse: index 0 then index 1, six argument
    # fragments each, finish "tool_calls", usage 75 / 51
    assert [e for e in events if isinstance(e, ToolCallStart)] == [
        ToolCallStart(0, "get_current_weather", "call_fHCjJqt9Pysde6vcJcvbXGBx"),
        ToolCallStart(1, "get_current_weather", "call_3J9foSw3CUb48lrqIXoTky6U"),
    ]
    assert [e.arguments for e in events if isinstance(e, ToolCallDelta) and e.index == 1] == [
        '{"lo',
        "catio",
        'n": "S',
        "an F",
        "ranci",
        "sco, C",
        'A"}',
    ]
    result = turn(events)
    assert [(c.name, c.input, c.provider_call_id) for c in result.tool_calls] == [
        ("get_current_weather", {"location": "Seattle, WA"}, "call_fHCjJqt9Pysde6vcJcvbXGBx"),
        ("get_current_weather", {"location": "San Francisco, CA"}, "call_3J9foSw3CUb48lrqIXoTky6U"),
    ]
    assert events[-2:] == [UsageUpdate(input_tokens=75, output_tokens=51), Stop("tool_use")]


MULTIPLY = ToolSchema(
    name="multiply",
    description="Multiply two numbers.",
    parameters={
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "type": "object",
    },
)


async def test_a_streamed_tool_call_and_its_result_make_a_second_streamed_turn():
    request = ModelRequest(
        model="gpt-4o-mini",
        instructions="",
        messages=parse_messages([{"role": "user", "content": "What is 1231 * 2331?"}]),
        tools=[MULTIPLY],
    )
    async with replay("openai/chat-stream-tool-call-roundtrip") as cassette, adapter() as provider:
        first = turn(await collect(provider, cassette, request))
        conversation = [
            *request.messages,
            first.assistant_message(),
            tool_results(first.tool_calls, ["2869461"]),
        ]
        second = turn(await collect(provider, cassette, replace(request, messages=conversation)))

    # chat-stream-tool-call-roundtrip.0.sse: one multiply call, usage 54 / 20
    assert first.tool_calls == [
        ToolCall(
            call_id=first.tool_calls[0].call_id,
            name="multiply",
            input={"a": 1231, "b": 2331},
            provider_call_id="call_1EYWDzueHEp8OsB8jJSEp7WB",
        )
    ]
    assert (first.usage, first.stop_reason) == (UsageUpdate(54, 20), "tool_use")
    recorded = [normalized(i.request_body or {}) for i in cassette.interactions]
    assert normalized(cassette.sent_json(0)) == recorded[0]
    sent = normalized(cassette.sent_json(1))
    # The recording splits the assistant turn into an empty text message and a message with
    # the call; the adapter sends one message with both (null content).
    assert recorded[1]["messages"][1] == {"role": "assistant", "content": ""}
    assert sent["messages"] == [
        recorded[1]["messages"][0],
        {**recorded[1]["messages"][2], "content": None},
        recorded[1]["messages"][3],
    ]
    assert {**sent, "messages": None} == {**recorded[1], "messages": None}
    # chat-stream-tool-call-roundtrip.1.sse: the answer, usage 87 / 26
    assert second.text == "The result of \\( 1231 \\times 2331 \\) is \\( 2,869,461 \\)."
    assert (second.usage, second.stop_reason) == (UsageUpdate(87, 26), "end_turn")


async def test_a_stream_cut_off_midway_is_a_retryable_provider_error():
    request = replace(SAY_THIS_IS_A_TEST, model="gpt-4", stream=True)
    async with (
        replay("openai/chat-stream-text-usage", cut_after={0: 700}) as cassette,
        adapter() as provider,
    ):
        seen: list[ProviderEvent] = []
        with pytest.raises(ProviderError) as raised:
            async for event in provider.stream(
                replace(request, base_url=cassette.base_url + "/v1")
            ):
                seen.append(event)

    assert raised.value.code == "provider_error"
    assert raised.value.retryable is True
    assert "incomplete" in raised.value.message
    # openai/chat-stream-text-usage.sse: 700 bytes hold the role chunk and the first delta
    assert seen == [TextDelta('"This')]


async def test_a_stream_that_ends_cleanly_before_its_finish_chunk_is_a_retryable_error():
    cassette = load("openai/chat-stream-text-usage")
    body = cassette.interactions[0].body
    finish = body.index(b'"finish_reason":"stop"')
    cassette.interactions[0] = replace(
        cassette.interactions[0], body=body[: body.rindex(b"data: ", 0, finish)]
    )
    request = replace(SAY_THIS_IS_A_TEST, model="gpt-4", stream=True)
    async with Replay(cassette) as cassette, adapter() as provider:
        with pytest.raises(ProviderError) as raised:
            await collect(provider, cassette, request)

    assert (raised.value.code, raised.value.retryable) == ("provider_error", True)
    assert "ended before the answer was complete" in raised.value.message


@pytest.mark.parametrize(
    "name",
    [
        "openai/chat-stream-text-usage",
        "openai/chat-stream-tool-calls-parallel",
        "deepseek/chat-reasoner-stream",
        "ollama/openai-compat-stream-tool-call",
    ],
)
async def test_a_stream_read_a_byte_at_a_time_gives_the_same_events(name):
    request = replace(SAY_THIS_IS_A_TEST, stream=True)
    async with replay(name) as cassette, adapter() as provider:
        whole = await collect(provider, cassette, request)
    async with replay(name, chunk_size=1) as cassette, adapter() as provider:
        bytewise = await collect(provider, cassette, request)

    assert isinstance(whole[-1], Stop)
    assert bytewise == whole


async def test_a_stream_kept_open_after_done_ends_the_call_at_done():
    request = replace(SAY_THIS_IS_A_TEST, model="gpt-4", stream=True)
    async with (
        replay("openai/chat-stream-text-usage", hold_open=True) as cassette,
        adapter() as provider,
    ):
        started = time.monotonic()
        events = await asyncio.wait_for(collect(provider, cassette, request), timeout=10)
        elapsed = time.monotonic() - started

    # openai/chat-stream-text-usage.sse, as the whole stream gives it
    assert events[-2:] == [UsageUpdate(input_tokens=12, output_tokens=5), Stop("end_turn")]
    assert elapsed < 5


# --- request options -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "limit_field"),
    [("openai", "max_completion_tokens"), ("vllm", "max_tokens")],
    ids=["openai", "compatible-server"],
)
async def test_sampling_settings_and_the_output_limit_are_sent(name, limit_field):
    request = replace(
        SAY_THIS_IS_A_TEST,
        max_output_tokens=256,
        settings=ModelSettings(temperature=0.2, reasoning_effort="low"),
    )
    async with replay("openai/chat-text") as cassette, adapter(name) as provider:
        await collect(provider, cassette, request)

    sent = cassette.sent_json(0)
    assert sent[limit_field] == 256
    assert {"max_tokens", "max_completion_tokens"} - sent.keys() == {
        "max_tokens",
        "max_completion_tokens",
    } - {limit_field}
    assert (sent["temperature"], sent["reasoning_effort"]) == (0.2, "low")


async def test_thinking_is_dropped_and_a_failed_result_sends_its_error_text():
    conversation = parse_messages(
        [
            {"role": "user", "content": "Say this is a test"},
            {
                "role": "assistant",
                "content": [
                    {"type": "thinking", "text": "I should check first.", "signature": None},
                    {"type": "text", "text": "Checking."},
                    {"type": "tool_call", "call_id": "corral_7", "name": "check", "input": {}},
                ],
            },
            {
                "role": "tool",
                "content": [
                    {
                        "type": "tool_result",
                        "call_id": "corral_7",
                        "name": "check",
                        "output": "error: check is unavailable",
                        "is_error": True,
                    }
                ],
            },
        ]
    )
    request = replace(SAY_THIS_IS_A_TEST, instructions="Be brief.", messages=conversation)
    async with replay("openai/chat-text") as cassette, adapter() as provider:
        await collect(provider, cassette, request)

    # A call the provider gave no id of its own goes out under Corral's id.
    assert cassette.sent_json(0)["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Say this is a test"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "corral_7",
                    "type": "function",
                    "function": {"name": "check", "arguments": "{}"},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "corral_7", "content": "error: check is unavailable"},
    ]


# --- errors --------------------------------------------------------------------------------

FAILING = ModelRequest(
    model="gpt-4o",
    instructions="",
    messages=parse_messages(
        [{"role": "user", "content": "This should fail with AuthenticationError"}]
    ),
    api_key="invalid-12345",
)


@pytest.mark.parametrize(
    ("cassette_name", "request_", "code", "status"),
    [
        # error-401-invalid-api-key-chat.json: 401, code invalid_api_key
        (
            "openai/error-401-invalid-api-key-chat",
            replace(FAILING, stream=False),
            "provider_auth_error",
            401,
        ),
        # error-401-invalid-api-key-chat-stream.json: the same 401, as a plain JSON body
        ("openai/error-401-invalid-api-key-chat-stream", FAILING, "provider_auth_error", 401),
        # error-404-model-not-found-chat.json: 404, code model_not_found
        (
            "openai/error-404-model-not-found-chat",
            replace(SAY_THIS_IS_A_TEST, model="this-model-does-not-exist"),
            "invalid_model",
            404,
        ),
        # error-400-unsupported-value-chat.json: 400, code unsupported_value (system role, o1-mini)
        (
            "openai/error-400-unsupported-value-chat",
            replace(
                SAY_THIS_IS_A_TEST,
                model="o1-mini",
                instructions="You are a helpful assistant.",
                messages=parse_messages([{"role": "user", "content": "Hello"}]),
            ),
            "provider_error",
            400,
        ),
    ],
    ids=["401", "401-stream", "404", "400"],
)
async def test_error_answers_become_provider_errors_that_are_not_retried(
    cassette_name, request_, code, status
):
    async with replay(cassette_name) as cassette, adapter() as provider:
        with pytest.raises(ProviderError) as raised:
            await collect(provider, cassette, request_)

    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    assert (raised.value.code, raised.value.status, raised.value.retryable) == (code, status, False)
    assert raised.value.message.startswith("openai: ")
    assert isinstance(raised.value.__cause__, Exception)


async def test_an_endpoint_nobody_listens_on_is_a_retryable_error_naming_it():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound, never listening: connections are refused
        request = replace(SAY_THIS_IS_A_TEST, base_url=f"http://127.0.0.1:{port}/v1", stream=True)
        async with adapter("ollama", url_variable="OLLAMA_BASE_URL") as provider:
            with pytest.raises(ProviderError) as raised:
                async for _ in provider.stream(request):
                    pass

    assert (raised.value.code, raised.value.retryable) == ("provider_error", True)
    assert raised.value.message == (
        f"ollama: connection failed: cannot connect to 127.0.0.1:{port}: Connection refused"
        f" — is the model server at http://127.0.0.1:{port}/v1 running?"
        " (set OLLAMA_BASE_URL on the server if it listens elsewhere)"
    )
