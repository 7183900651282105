"""The Chat Completions adapter against recorded DeepSeek, Ollama, vLLM and OpenRouter traffic.

Each server bends the dialect a little: usage on the finish chunk or never, reasoning under
another name, whole tool calls closed by `stop`. Expected values come from the fixture files
named in each test.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from corral.domain.conversation import Message, ToolCall, parse_messages
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
from tests.providers.cassettes import replay
from tests.providers.test_openai_chat import (
    adapter,
    collect,
    normalized,
    tool_results,
    tools_of,
    turn,
)

# --- DeepSeek ------------------------------------------------------------------------------

JOKE = ModelRequest(
    model="deepseek-chat",
    instructions="",
    messages=parse_messages([{"role": "user", "content": "Tell me a joke about opentelemetry"}]),
    api_key="sk-deepseek",
)


async def test_deepseek_beta_stream_carries_usage_on_its_finish_chunk():
    async with (
        replay("deepseek/chat-stream-text-usage") as cassette,
        adapter("deepseek") as provider,
    ):
        events = await collect(provider, cassette, JOKE, prefix="/beta")

    assert cassette.sent[0].path == "/beta/chat/completions"
    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    # deepseek/chat-stream-text-usage.sse: 89 content deltas, then the finish chunk with usage
    # 12 / 89 and no chunk of its own for usage
    assert turn(events).text == (
        "Sure! Here's a techy joke for you:  \n\n"
        "**Why did the OpenTelemetry span break up with the logs?**  \n"
        "Because it wanted *tracing* independence!  \n\n"
        "*(For context: OpenTelemetry handles traces, logs, and metrics—this joke plays on the "
        'idea of "tracing" as both a feature and a pun on "chasing" independence.)*  \n\n'
        "Hope that gives you a chuckle! 😄"
    )
    assert events[-2:] == [UsageUpdate(input_tokens=12, output_tokens=89), Stop("end_turn")]


async def test_deepseek_reasoner_answer_carries_reasoning_content_as_thinking():
    request = ModelRequest(
        model="deepseek-reasoner",
        instructions="",
        messages=parse_messages([{"role": "user", "content": "How do I cross the street?"}]),
        stream=False,
    )
    async with replay("deepseek/chat-reasoner-text") as cassette, adapter("deepseek") as provider:
        events = await collect(provider, cassette, request, prefix="")
        message = cassette.interactions[0].response_json["choices"][0]["message"]

    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    result = turn(events)
    # deepseek/chat-reasoner-text.json: reasoning_content (1997 chars) then content (1568
    # chars), passed through whole; usage 12 / 789 of which 415 reasoning
    assert [type(e) for e in events] == [ThinkingDelta, TextDelta, UsageUpdate, Stop]
    assert [block.text for block in result.thinking] == [message["reasoning_content"]]
    assert result.thinking[0].text.startswith("Okay, the user is asking how to cross the")
    assert len(result.thinking[0].text) == 1997
    assert result.text == message["content"]
    assert result.text.endswith(
        "Prioritize safety over speed, and stay alert until you've fully crossed."
    )
    assert len(result.text) == 1568
    assert result.usage == UsageUpdate(input_tokens=12, output_tokens=789, reasoning_tokens=415)
    assert result.stop_reason == "end_turn"


async def test_deepseek_reasoner_stream_thinks_then_answers():
    request = ModelRequest(
        model="deepseek-reasoner",
        instructions="",
        messages=parse_messages([{"role": "user", "content": "Hello"}]),
    )
    async with replay("deepseek/chat-reasoner-stream") as cassette, adapter("deepseek") as provider:
        events = await collect(provider, cassette, request, prefix="")

    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    result = turn(events)
    # deepseek/chat-reasoner-stream.sse: reasoning_content deltas, then content deltas, then
    # the finish chunk with usage 6 / 212 (198 reasoning)
    assert [block.text for block in result.thinking] == [
        "Hmm, the user just said \"Hello\". It's a simple greeting but I wonder if there's more "
        "to it.  \n\nThe message is very brief, so I don't have much context to work with. "
        "Maybe they're just testing if I'm responsive, or perhaps they're new to chatting with "
        "AI.  \n\nI should keep my reply warm and inviting to encourage further conversation. A "
        "smiley face would help make it friendly. Since they didn't specify a need, I'll leave "
        "it open-ended by asking how I can help them today.  \n\nThe tone should be cheerful "
        'but professional - not too stiff, not too casual. "Hello there!" feels right for a '
        'start. Adding "What can I do for you today?" turns it into an invitation rather than '
        "just mirroring their greeting.  \n\nI'll avoid assumptions about their gender, "
        "location, or intent since there's zero information. If they're just being polite, "
        "they might not reply further - and that's okay too."
    ]
    assert result.text == "Hello there! 😊 How can I help you today?"
    first_text = next(i for i, e in enumerate(events) if isinstance(e, TextDelta))
    assert not any(isinstance(e, ThinkingDelta) for e in events[first_text:])
    assert events[-2:] == [
        UsageUpdate(input_tokens=6, output_tokens=212, reasoning_tokens=198),
        Stop("end_turn"),
    ]


DICE_GAME = (
    "You're a dice game, you should roll the die and see if the number you get back matches "
    "the user's guess. If so, tell them they're a winner. Use the player's name in the response."
)
DEFERRED = (
    "The following capabilities are deferred and can be loaded using the `load_capability` "
    "tool:\n- DICE_ROLL"
)


def _one_system_message(body: dict[str, Any]) -> dict[str, Any]:
    """A recorded request whose leading system messages are merged as Corral sends them."""
    leading = [m for m in body["messages"] if m["role"] == "system"]
    rest = body["messages"][len(leading) :]
    merged = {"role": "system", "content": "\n\n".join(m["content"] for m in leading)}
    return {**body, "messages": [merged, *rest]}


async def test_deepseek_gets_each_turns_reasoning_back_beside_its_tool_calls():
    async with (
        replay("deepseek/chat-reasoner-tool-calls-roundtrip") as cassette,
        adapter("deepseek", replay_reasoning=True) as provider,
    ):
        recorded = [_one_system_message(i.request_body or {}) for i in cassette.interactions]
        request = ModelRequest(
            model="deepseek-reasoner",
            instructions=f"{DICE_GAME}\n\n{DEFERRED}",
            messages=parse_messages([{"role": "user", "content": "My guess is 4"}]),
            tools=tools_of(recorded[0]),
            stream=False,
        )
        first = turn(await collect(provider, cassette, request, prefix=""))
        # The recorded client then answered with a call of its own making (no reasoning).
        search = ToolCall(
            call_id="auto_load_eb5fc31bb581b4e7",
            name="search_tools",
            input={"queries": ["DICE_ROLL"]},
        )
        found = (
            '{"discovered_tools":[{"name":"get_player_name","description":"Get the player\'s '
            'name."},{"name":"roll_dice","description":"Roll a six-sided die and return the '
            'result."}]}'
        )
        conversation = [
            *request.messages,
            first.assistant_message(),
            tool_results(first.tool_calls, ["{}"]),
            Message("assistant", (search,)),
            tool_results([search], [found]),
        ]
        request = replace(request, messages=conversation, tools=tools_of(recorded[1]))
        second = turn(await collect(provider, cassette, request, prefix=""))
        conversation += [second.assistant_message(), tool_results(second.tool_calls, ["Anne", "4"])]
        third = turn(
            await collect(provider, cassette, replace(request, messages=conversation), prefix="")
        )

    # Every request as recorded, reasoning_content included ("" on the client's own call).
    for index in range(3):
        assert normalized(cassette.sent_json(index)) == normalized(recorded[index])
    # chat-reasoner-tool-calls-roundtrip.json, response 0: reasoning, text, one call; usage
    # 563 in of which 512 cached, 116 out of which 60 reasoning
    assert first.thinking[0].text.startswith("The user wants to play a dice game.")
    assert first.text == "Let me load the dice rolling capability!"
    assert [(c.name, c.input, c.provider_call_id) for c in first.tool_calls] == [
        ("load_capability", {"id": "DICE_ROLL"}, "call_00_sXqYgMESDht75NCLLZtt9804")
    ]
    assert first.usage == UsageUpdate(
        input_tokens=563, output_tokens=116, cache_read_tokens=512, reasoning_tokens=60
    )
    assert first.stop_reason == "tool_use"
    # response 1: two parallel calls without arguments
    assert [(c.name, c.input, c.provider_call_id) for c in second.tool_calls] == [
        ("get_player_name", {}, "call_00_6edlnw3Z1MgeMfey687g8451"),
        ("roll_dice", {}, "call_01_km02sac7sHxNDPATKLZy7705"),
    ]
    assert second.usage == UsageUpdate(input_tokens=875, output_tokens=79, reasoning_tokens=26)
    # response 2: the verdict; 976 in of which 896 cached, 61 out of which 25 reasoning
    assert [block.to_json() for block in third.thinking] == [
        {
            "type": "thinking",
            "text": (
                "The player's name is Anne, and the die rolled a 4. "
                "The user guessed 4, so they win!"
            ),
            "signature": None,
        }
    ]
    assert third.text == (
        "🎉 **Congratulations, Anne!** You're a winner! 🎉\n\nThe die rolled exactly **4** -- "
        "matching your guess perfectly! Lucky you! 🎲"
    )
    assert third.usage == UsageUpdate(
        input_tokens=976, output_tokens=61, cache_read_tokens=896, reasoning_tokens=25
    )
    assert third.stop_reason == "end_turn"


# --- Ollama --------------------------------------------------------------------------------

RETURN_BOOL = ToolSchema(
    name="return_bool",
    description="",
    parameters={
        "properties": {"value": {"title": "Value", "type": "boolean"}},
        "required": ["value"],
        "type": "object",
    },
)


async def test_ollama_sends_a_whole_tool_call_in_one_chunk_and_closes_it_with_stop():
    request = ModelRequest(
        model="llama3.1",
        instructions="",
        messages=parse_messages([{"role": "user", "content": "Return True."}]),
        tools=[RETURN_BOOL],
    )
    async with (
        replay("ollama/openai-compat-stream-tool-call") as cassette,
        adapter("ollama") as provider,
    ):
        events = await collect(provider, cassette, request)

    # The recorded client also forced the tool (tool_choice); Corral leaves the choice to the model.
    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    # ollama/openai-compat-stream-tool-call.sse: id, name and arguments in one chunk (no
    # index), then finish_reason "stop", no usage chunk
    assert events == [
        ToolCallStart(0, "return_bool", "call_kve3oltz"),
        ToolCallDelta(0, '{"value":true}'),
        Stop("tool_use"),
    ]
    assert turn(events).tool_calls[0].input == {"value": True}


async def test_ollama_stream_without_usage_has_no_usage_event():
    request = ModelRequest(
        model="llama3.1",
        instructions="",
        messages=parse_messages([{"role": "user", "content": "Say hello!"}]),
    )
    async with (
        replay("ollama/openai-compat-stream-text") as cassette,
        adapter("ollama") as provider,
    ):
        events = await collect(provider, cassette, request)

    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    assert not any(isinstance(e, UsageUpdate) for e in events)
    # ollama/openai-compat-stream-text.sse: 22 content deltas, an empty one with "stop"
    result = turn(events)
    assert result.text == (
        "Hello! How are you today? Is there something I can help you with or would you like "
        "to chat?"
    )
    assert (result.usage, result.stop_reason) == (UsageUpdate(0, 0), "end_turn")


FINAL_RESULT_REASONING = (
    'The conversation: user asked "What is the capital of France?" assistant responded "Paris." '
    "That is fine. But they expect a JSON output? They saw a validation error: "
    '"Expected JSON: invalid JSON." The system is set up such that the assistant must respond '
    'using the function "final_result" JSON object with keys city and country. The previous '
    "response was not JSON; that's why validator error. So we must call function final_result "
    'with city = "Paris" and country = "France". We need to produce JSON accordingly. The '
    "function signature: final_result({city: string, country: string}). We need to output the "
    'JSON. Using the functions interface. Let\'s produce: { "city": "Paris", "country": '
    '"France" } as JSON.\n\nWe need to provide answer in JSON format. Let\'s do that.'
)


async def test_ollama_cloud_reasoning_field_is_thinking_and_its_tool_call_is_read():
    async with (
        replay("ollama/cloud-openai-compat-tool-call") as cassette,
        adapter("ollama") as provider,
    ):
        recorded = [i.request_body or {} for i in cassette.interactions]
        request = ModelRequest(
            model="gpt-oss:20b",
            instructions="",
            messages=parse_messages(
                [{"role": "user", "content": "What is the capital of France?"}]
            ),
            tools=tools_of(recorded[0]),
            stream=False,
        )
        first = turn(await collect(provider, cassette, request))
        retry = recorded[1]["messages"][2]["content"]
        conversation = [
            *request.messages,
            first.assistant_message(),
            Message("user", retry),
        ]
        second = turn(await collect(provider, cassette, replace(request, messages=conversation)))

    assert normalized(cassette.sent_json(0)) == normalized(recorded[0])
    # Without replay_reasoning the thinking stays home; the recorded client sent it back as
    # `reasoning`, which Ollama does not require.
    assert "reasoning" in recorded[1]["messages"][1]
    assert normalized(cassette.sent_json(1)) == normalized(recorded[1])
    # ollama/cloud-openai-compat-tool-call.json, response 0: message.reasoning + "Paris."
    assert first.thinking[0].text.startswith('We need to answer question: "What is the capital')
    assert first.text == "Paris."
    assert (first.usage, first.stop_reason) == (UsageUpdate(134, 122), "end_turn")
    # response 1: reasoning, empty content, one final_result call
    assert [block.text for block in second.thinking] == [FINAL_RESULT_REASONING]
    assert second.text == ""
    assert [(c.name, c.input, c.provider_call_id) for c in second.tool_calls] == [
        ("final_result", {"city": "Paris", "country": "France"}, "call_o2vnpxrw")
    ]
    assert (second.usage, second.stop_reason) == (UsageUpdate(206, 194), "tool_use")


# --- vLLM and OpenRouter -------------------------------------------------------------------


async def test_vllm_answer_with_an_empty_tool_call_list_is_a_text_turn():
    request = replace(JOKE, model="meta-llama/Llama-3.2-1B-Instruct", stream=False)
    async with replay("vllm/chat-text") as cassette, adapter("vllm") as provider:
        events = await collect(provider, cassette, request)

    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    # vllm/chat-text.json: content, "tool_calls": [], finish "stop", usage 43 / 36
    assert events == [
        TextDelta(
            "Why did the OpenTelemetry metric go to therapy?\n\nBecause it was feeling a little "
            '"trapped" in its logging function, and wanted to "release" its stress.'
        ),
        UsageUpdate(input_tokens=43, output_tokens=36),
        Stop("end_turn"),
    ]


async def test_openrouter_upstream_rate_limit_is_retryable():
    request = ModelRequest(
        model="google/gemini-2.0-flash-exp:free",
        instructions="Be helpful.",
        messages=parse_messages([{"role": "user", "content": "Tell me a joke."}]),
        stream=False,
    )
    async with (
        replay("openrouter/error-429-upstream-rate-limited") as cassette,
        adapter("openrouter") as provider,
    ):
        with pytest.raises(ProviderError) as raised:
            await collect(provider, cassette, request, prefix="/api/v1")

    assert cassette.sent[0].path == "/api/v1/chat/completions"
    assert normalized(cassette.sent_json(0)) == normalized(
        cassette.interactions[0].request_body or {}
    )
    failure = raised.value
    # error-429-upstream-rate-limited.json: 429, error.code 429, no retry-after header
    assert (failure.code, failure.status, failure.retryable) == ("provider_rate_limited", 429, True)
    assert failure.retry_after_s is None
    assert failure.message.startswith("openrouter: Provider returned error: ")
    assert "temporarily rate-limited upstream" in failure.message
