"""The Responses API adapter against recorded OpenAI traffic (`fixtures/providers/openai/`)."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from corral.domain.conversation import (
    Message,
    ToolCall,
    ToolResult,
    parse_message,
    parse_messages,
)
from corral.domain.tools import ToolSchema
from corral.errors import ProviderError
from corral.providers.base import ModelRequest, ModelSettings, Stop, UsageUpdate
from corral.providers.openai_responses import (
    OpenAIResponsesProvider,
    ResponseTranslator,
    input_items,
)
from corral.runtime.accumulator import TurnAccumulator, TurnResult
from tests.providers.cassettes import Cassette, replay

KEY = "sk-test"

MULTIPLY = ToolSchema(
    name="multiply",
    description="Multiply two numbers.",
    parameters={
        "properties": {"a": {"type": "integer"}, "b": {"type": "integer"}},
        "required": ["a", "b"],
        "type": "object",
    },
)
DB_LOOKUP = ToolSchema(
    name="db_lookup",
    description="Look up a value by key in the puzzle database.",
    parameters={"properties": {"key": {"type": "string"}}, "required": ["key"], "type": "object"},
)
MULTIPLY_PROMPT = "What is 1231 * 2331? Use the multiply tool."
PUZZLE_PROMPT = (
    "Solve this puzzle: call db_lookup('start'), then follow each instruction step by step. "
    "Each lookup tells you the next key to use. Compute each step in your head. "
    "State only the final integer."
)


@pytest.fixture
async def provider():
    adapter = OpenAIResponsesProvider()
    yield adapter
    await adapter.aclose()


def _request(
    cassette: Cassette, messages: list[Message | dict[str, Any]], **overrides: Any
) -> ModelRequest:
    fields: dict[str, Any] = {
        "model": "gpt-5.5",
        "instructions": "",
        "messages": [m if isinstance(m, Message) else parse_message(m) for m in messages],
        "api_key": KEY,
        "base_url": cassette.base_url + "/v1",
        **overrides,
    }
    return ModelRequest(**fields)


_call_numbers = itertools.count(1)


async def _turn(provider: OpenAIResponsesProvider, request: ModelRequest) -> TurnResult:
    """The call's events folded into a turn, as the runtime does (Corral call ids unique)."""
    accumulator = TurnAccumulator(lambda: f"corral_call_{next(_call_numbers)}")
    async for event in provider.stream(request):
        accumulator.feed(event)
    return accumulator.result()


def _parsed_arguments(body: dict[str, Any]) -> dict[str, Any]:
    """The body with each function call's argument string parsed (spacing may differ)."""
    items = [
        {**item, "arguments": json.loads(item["arguments"])}
        if item.get("type") == "function_call"
        else item
        for item in body["input"]
    ]
    return {**body, "input": items}


def _assert_sent_as_recorded(cassette: Cassette, index: int) -> None:
    sent = cassette.sent[index]
    assert (sent.method, sent.path) == ("POST", "/v1/responses")
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    recorded = cassette.interactions[index].request_body
    assert recorded is not None
    assert _parsed_arguments(cassette.sent_json(index)) == _parsed_arguments(recorded)


def _tool_results(turn: TurnResult, outputs: list[str]) -> Message:
    return Message(
        "tool",
        tuple(
            ToolResult(call_id=call.call_id, name=call.name, output=output, is_error=False)
            for call, output in zip(turn.tool_calls, outputs, strict=True)
        ),
    )


async def test_plain_request_sends_stateless_body_and_yields_text(provider):
    async with replay("openai/responses-text") as cassette:
        request = _request(
            cassette,
            [{"role": "user", "content": "Reply with exactly: pong"}],
            settings=ModelSettings(reasoning_effort="low"),
            stream=False,
        )
        turn = await _turn(provider, request)

    _assert_sent_as_recorded(cassette, 0)
    # responses-text.json, response: one output_text "pong", usage 11 in / 5 out.
    assert turn.text == "pong"
    assert turn.thinking == []
    assert turn.tool_calls == []
    assert turn.usage == UsageUpdate(11, 5, cache_read_tokens=0, reasoning_tokens=0)
    assert turn.stop_reason == "end_turn"


async def test_stream_yields_text_usage_and_end_turn(provider):
    async with replay("openai/responses-stream-text") as cassette:
        request = _request(
            cassette,
            [{"role": "user", "content": "Reply with exactly: pong"}],
            settings=ModelSettings(reasoning_effort="low"),
        )
        turn = await _turn(provider, request)

    _assert_sent_as_recorded(cassette, 0)
    assert cassette.sent_json(0)["stream"] is True
    # responses-stream-text.sse: one output_text.delta "pong"; response.completed usage 11 / 5.
    assert turn.text == "pong"
    assert turn.usage == UsageUpdate(11, 5)
    assert turn.stop_reason == "end_turn"


@pytest.mark.parametrize(
    ("name", "index"),
    [
        ("openai/responses-stream-text", 0),
        ("openai/responses-stream-function-call-roundtrip", 0),
        ("openai/responses-stream-function-call-roundtrip", 1),
    ],
)
async def test_a_stream_read_a_byte_at_a_time_gives_the_same_events(provider, name, index):
    async def events(**options: Any) -> list[Any]:
        async with replay(name, order=[index], **options) as cassette:
            request = _request(cassette, [{"role": "user", "content": MULTIPLY_PROMPT}])
            return [event async for event in provider.stream(request)]

    whole = await events()
    assert isinstance(whole[-1], Stop)
    assert await events(chunk_size=1) == whole


async def test_function_call_round_trip_returns_openai_call_id(provider):
    messages: list[Message | dict[str, Any]] = [{"role": "user", "content": MULTIPLY_PROMPT}]
    settings = ModelSettings(reasoning_effort="low")
    async with replay("openai/responses-function-call-roundtrip") as cassette:
        first = await _turn(
            provider,
            _request(cassette, messages, tools=[MULTIPLY], settings=settings, stream=False),
        )
        # responses-function-call-roundtrip.json, response 0: one function_call.
        assert [replace(call, call_id="<corral>") for call in first.tool_calls] == [
            ToolCall(
                call_id="<corral>",
                name="multiply",
                provider_call_id="call_nJmCK7SJe3ajdYYplIbH0KgL",
                input={"a": 1231, "b": 2331},
            )
        ]
        assert first.text == ""
        assert first.usage == UsageUpdate(58, 23)
        assert first.stop_reason == "tool_use"

        messages += [first.assistant_message(), _tool_results(first, ["2869461"])]
        second = await _turn(
            provider,
            _request(cassette, messages, tools=[MULTIPLY], settings=settings, stream=False),
        )

    _assert_sent_as_recorded(cassette, 0)
    _assert_sent_as_recorded(cassette, 1)
    # Response 1: the final message and its usage.
    assert second.text == "1231 * 2331 = 2,869,461"
    assert second.tool_calls == []
    assert second.usage == UsageUpdate(94, 17)
    assert second.stop_reason == "end_turn"


async def test_streamed_function_call_round_trip(provider):
    messages: list[Message | dict[str, Any]] = [{"role": "user", "content": MULTIPLY_PROMPT}]
    settings = ModelSettings(reasoning_effort="low")
    async with replay("openai/responses-stream-function-call-roundtrip") as cassette:
        first = await _turn(
            provider, _request(cassette, messages, tools=[MULTIPLY], settings=settings)
        )
        # responses-stream-function-call-roundtrip.0.sse: output_item.added names the call,
        # eleven function_call_arguments.delta fragments spell its arguments.
        assert [replace(call, call_id="<corral>") for call in first.tool_calls] == [
            ToolCall(
                call_id="<corral>",
                name="multiply",
                provider_call_id="call_sVidsfFJ6zlzRpelrPkTPlpd",
                input={"a": 1231, "b": 2331},
            )
        ]
        assert first.usage == UsageUpdate(58, 23)
        assert first.stop_reason == "tool_use"

        messages += [first.assistant_message(), _tool_results(first, ["2869461"])]
        second = await _turn(
            provider, _request(cassette, messages, tools=[MULTIPLY], settings=settings)
        )

    _assert_sent_as_recorded(cassette, 0)
    _assert_sent_as_recorded(cassette, 1)
    # responses-stream-function-call-roundtrip.1.sse: output_text.done and usage.
    assert second.text == "1231 \u00d7 2331 = **2,869,461**"  # a multiplication sign
    assert second.usage == UsageUpdate(94, 18)
    assert second.stop_reason == "end_turn"


# responses-reasoning-function-calls-multiturn.json: per response, the reasoning item's id,
# the function calls (call_id, arguments) and usage (input, output, reasoning tokens).
PUZZLE_TURNS: list[dict[str, Any]] = [
    {
        "reasoning_id": "rs_0429c1fcf5cbfa350169fabfe62a9c8197914677ea9a2424a0",
        "calls": [("call_I670mAzR6AYszdoqaI96qg0k", {"key": "start"})],
        "usage": UsageUpdate(88, 65, reasoning_tokens=45),
    },
    {
        "reasoning_id": "rs_0429c1fcf5cbfa350169fabfe83488819788888aaafb2ab1fd",
        "calls": [("call_Uj506iEKjBZWrHPq2C3GDtgr", {"key": "7"})],
        "usage": UsageUpdate(171, 118, reasoning_tokens=98),
    },
    {
        "reasoning_id": "rs_0429c1fcf5cbfa350169fabfeb569481978703af8553a073b9",
        "calls": [("call_Vik9mkNli8KsnSbHOShapdmG", {"key": "step1"})],
        "usage": UsageUpdate(302, 217, reasoning_tokens=196),
    },
    {
        "reasoning_id": "rs_0429c1fcf5cbfa350169fabfeff8708197a93aabe0257d06a5",
        "calls": [
            ("call_WbWwKw4J6EXQ7Sn93fgmuZe3", {"key": "begin"}),
            ("call_et3hsNc1ipjCfuBylmAwqkEy", {"key": "value"}),
            ("call_J4rpPS0QEz4CIdsVGKEKG6k3", {"key": "the value 7"}),
            ("call_gd2cYY61KkICSgB6qNd7ZC66", {"key": "Begin with the value 7."}),
            ("call_nInKAmdZObYpqc3OR3WC61K3", {"key": "start2"}),
        ],
        "usage": UsageUpdate(532, 119, reasoning_tokens=17),
    },
]
# The tool outputs the recording fed back (function_call_output items of requests 1-3).
PUZZLE_OUTPUTS = [["Begin with the value 7."], ["unknown key"], ["unknown key"]]


async def test_reasoning_items_are_replayed_with_encrypted_content(provider):
    messages: list[Message | dict[str, Any]] = [{"role": "user", "content": PUZZLE_PROMPT}]
    settings = ModelSettings(reasoning_effort="high")
    async with replay("openai/responses-reasoning-function-calls-multiturn") as cassette:
        for index, expected in enumerate(PUZZLE_TURNS):
            request = _request(
                cassette, messages, tools=[DB_LOOKUP], settings=settings, stream=False
            )
            turn = await _turn(provider, request)
            _assert_sent_as_recorded(cassette, index)

            # The encrypted reasoning is opaque; it is read straight from the recorded body.
            recorded_item = cassette.interactions[index].response_json["output"][0]
            assert recorded_item["encrypted_content"].startswith("gAAAAABp-r_")
            assert [block.to_json() for block in turn.thinking] == [
                {
                    "type": "thinking",
                    "text": "",
                    "signature": recorded_item["encrypted_content"],
                    "id": expected["reasoning_id"],
                }
            ]
            assert [(call.provider_call_id, call.name, call.input) for call in turn.tool_calls] == [
                (call_id, "db_lookup", arguments) for call_id, arguments in expected["calls"]
            ]
            assert turn.text == ""
            assert turn.usage == expected["usage"]
            assert turn.stop_reason == "tool_use"

            if index < len(PUZZLE_OUTPUTS):
                messages += [turn.assistant_message(), _tool_results(turn, PUZZLE_OUTPUTS[index])]

    assert len(cassette.sent) == 4


async def test_invalid_key_is_an_auth_error(provider):
    async with replay("openai/error-401-invalid-api-key-responses") as cassette:
        request = _request(
            cassette,
            [{"role": "user", "content": "This should fail with AuthenticationError"}],
            model="gpt-4o",
            stream=False,
        )
        with pytest.raises(ProviderError) as caught:
            await _turn(provider, request)

    sent = cassette.sent_json(0)
    recorded = cassette.interactions[0].request_body
    assert recorded is not None
    assert (sent["model"], sent["input"]) == (recorded["model"], recorded["input"])
    assert caught.value.code == "provider_auth_error"
    assert caught.value.status == 401
    assert caught.value.retryable is False
    assert "Incorrect API key provided" in str(caught.value)


async def test_unknown_model_answered_400_is_invalid_model(provider):
    async with replay("openai/error-400-model-not-found-responses") as cassette:
        request = _request(
            cassette,
            [{"role": "user", "content": "This should fail with NotFoundError"}],
            model="this-model-does-not-exist-12345",
            stream=False,
        )
        with pytest.raises(ProviderError) as caught:
            await _turn(provider, request)

    assert cassette.sent_json(0)["model"] == "this-model-does-not-exist-12345"
    assert len(cassette.sent) == 1  # the adapter does not retry by itself
    assert caught.value.code == "invalid_model"
    assert caught.value.status == 400
    assert caught.value.retryable is False


async def test_invalid_parameter_on_a_stream_is_a_final_provider_error(provider):
    async with replay("openai/error-400-invalid-param-responses-stream") as cassette:
        request = _request(
            cassette,
            [{"role": "user", "content": "What is the capital of France?"}],
            model="gpt-4o",
            settings=ModelSettings(temperature=-1),
        )
        with pytest.raises(ProviderError) as caught:
            await _turn(provider, request)

    sent = cassette.sent_json(0)
    recorded = cassette.interactions[0].request_body
    assert recorded is not None
    for name in ("model", "input", "stream", "temperature"):
        assert sent[name] == recorded[name]
    assert "instructions" not in sent  # the recording sent "", which means none
    assert caught.value.code == "provider_error"
    assert caught.value.status == 400
    assert caught.value.retryable is False
    assert "decimal below minimum value" in str(caught.value)


# Byte offsets into responses-stream-text.sse: inside response.created, right after the
# output_text.delta event, and right before response.completed.
@pytest.mark.parametrize(
    "cut", [700, 2595, 3443], ids=["inside-first-event", "after-text", "before-completed"]
)
async def test_stream_that_breaks_off_is_retryable(provider, cut):
    async with replay("openai/responses-stream-text", cut_after={0: cut}) as cassette:
        request = _request(cassette, [{"role": "user", "content": "Reply with exactly: pong"}])
        with pytest.raises(ProviderError) as caught:
            await _turn(provider, request)

    assert caught.value.code == "provider_error"
    assert caught.value.retryable is True
    assert caught.value.__cause__ is not None


async def test_missing_key_fails_without_a_request():
    adapter = OpenAIResponsesProvider()
    request = ModelRequest(model="gpt-5.5", instructions="", messages=[], base_url="http://x")
    with pytest.raises(ProviderError) as caught:
        async for _ in adapter.stream(request):
            pass
    assert caught.value.code == "provider_auth_error"


def test_input_items_replay_only_openai_reasoning_and_use_provider_ids():
    messages: list[dict[str, Any]] = [
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "text": "from claude", "signature": "sig"},
                {"type": "thinking", "text": "summary", "signature": "enc", "id": "rs_1"},
                {"type": "thinking", "text": "", "signature": None, "id": "rs_2"},
                {"type": "text", "text": "Let me look."},
                {
                    "type": "tool_call",
                    "call_id": "c1",
                    "name": "db_lookup",
                    "input": {"key": "k"},
                    "provider_call_id": "call_A",
                },
                {"type": "tool_call", "call_id": "c2", "name": "db_lookup", "input": {}},
            ],
        },
        {
            "role": "tool",
            "content": [
                {"type": "tool_result", "call_id": "c1", "name": "db_lookup", "output": "1"},
                {"type": "tool_result", "call_id": "c2", "name": "db_lookup", "output": "2"},
            ],
        },
    ]
    assert input_items(parse_messages(messages)) == [
        {
            "role": "user",
            "content": [{"type": "input_text", "text": "a"}, {"type": "input_text", "text": "b"}],
        },
        {
            "type": "reasoning",
            "id": "rs_1",
            "encrypted_content": "enc",
            "summary": [{"type": "summary_text", "text": "summary"}],
        },
        {"role": "assistant", "content": "Let me look."},
        {
            "type": "function_call",
            "call_id": "call_A",
            "name": "db_lookup",
            "arguments": '{"key": "k"}',
        },
        {"type": "function_call", "call_id": "c2", "name": "db_lookup", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "call_A", "output": "1"},
        {"type": "function_call_output", "call_id": "c2", "output": "2"},
    ]


def _response(**fields: Any) -> dict[str, Any]:
    return {"output": [], "usage": None, **fields}


@pytest.mark.parametrize(
    ("event", "code", "retryable"),
    [
        (
            {
                "type": "response.failed",
                "sequence_number": 3,
                "response": _response(
                    status="failed",
                    error={"code": "rate_limit_exceeded", "message": "slow down"},
                ),
            },
            "provider_rate_limited",
            True,
        ),
        (
            {
                "type": "response.failed",
                "sequence_number": 3,
                "response": _response(
                    status="failed", error={"code": "server_error", "message": "oops"}
                ),
            },
            "provider_error",
            True,
        ),
        (
            {"type": "error", "sequence_number": 2, "code": "invalid_prompt", "message": "no"},
            "provider_error",
            False,
        ),
        (
            {
                "type": "error",
                "sequence_number": 2,
                "code": "context_length_exceeded",
                "message": "long",
            },
            "context_length_exceeded",
            False,
        ),
    ],
    ids=["failed-rate-limit", "failed-server-error", "error-invalid-prompt", "error-context"],
)
def test_failure_events_become_provider_errors(event, code, retryable):
    with pytest.raises(ProviderError) as caught:
        ResponseTranslator().feed(event)
    assert caught.value.code == code
    assert caught.value.retryable is retryable


def test_response_cut_by_the_output_limit_stops_with_max_tokens():
    event = {
        "type": "response.incomplete",
        "sequence_number": 9,
        "response": _response(
            status="incomplete", incomplete_details={"reason": "max_output_tokens"}
        ),
    }
    assert ResponseTranslator().feed(event) == [Stop("max_tokens")]
