"""Which messages a compaction summarizes, and that what is sent afterwards stays valid."""

from __future__ import annotations

import itertools

import pytest

from corral.domain.compaction import (
    SUMMARY_HEADER,
    SUMMARY_INSTRUCTIONS,
    ContextState,
    Summary,
    Window,
    choose_cut,
    chunks,
    clip,
    message_tokens,
    render,
    summary_prompt,
)
from corral.domain.conversation import Message, Text, Thinking, ToolCall, ToolResult
from corral.errors import ProviderError
from corral.providers.anthropic import wire_messages
from corral.providers.base import ModelRequest, TextDelta
from corral.providers.openai_chat import _chat_messages
from corral.providers.openai_responses import input_items
from corral.providers.scripted import ScriptedModel
from corral.runtime.context import RunState


def user(text: str) -> Message:
    return Message("user", text)


def answer(text: str) -> Message:
    return Message("assistant", (Text(text),))


def calling(*call_ids: str) -> Message:
    calls = tuple(ToolCall(call_id, "lookup", {"q": call_id}) for call_id in call_ids)
    return Message("assistant", (Thinking("hmm", signature="sig"), *calls))


def results(*call_ids: str) -> Message:
    return Message(
        "tool", tuple(ToolResult(call_id, "lookup", f"found {call_id}") for call_id in call_ids)
    )


def conversation() -> list[Message]:
    """Chat turns, then a turn with two tool rounds (one of two parallel calls), then chat."""
    return [
        user("hello"),
        answer("hi"),
        user("look two things up"),
        calling("c1", "c2"),
        results("c1", "c2"),
        calling("c3"),
        results("c3"),
        answer("both found"),
        user("thanks"),
        answer("welcome"),
        user("and one more"),
        calling("c4"),
        results("c4"),
    ]


def tokens(messages: list[Message]) -> int:
    return sum(map(message_tokens, messages))


def test_the_latest_messages_that_fit_are_kept_and_the_rest_summarized():
    messages = [m for i in range(20) for m in (user(f"question {i}"), answer(f"answer {i}"))]
    messages.append(user("last question"))
    budget = tokens(messages[-5:])

    cut = choose_cut(messages, 0, budget)

    assert cut == len(messages) - 5
    assert tokens(messages[cut:]) <= budget < tokens(messages[cut - 1 :])


def test_the_latest_exchange_is_kept_even_when_it_alone_is_over_the_budget():
    messages = [user("a"), answer("b"), user("x" * 10_000)]

    assert choose_cut(messages, 0, keep_tokens=10) == 2


def test_in_a_tool_loop_the_last_call_stays_with_its_results():
    messages = conversation()

    assert choose_cut(messages, 0, keep_tokens=0) == len(messages) - 2  # calling("c4")


def test_nothing_is_folded_when_no_message_after_the_summary_can_start_the_rest():
    messages = conversation()

    assert choose_cut(messages, len(messages) - 2, keep_tokens=0) is None
    assert choose_cut([user("only")], 0, keep_tokens=0) is None
    assert choose_cut([], 0, keep_tokens=0) is None


def test_a_cut_is_always_past_what_is_summarized_already():
    messages = conversation()

    for start in range(len(messages)):
        cut = choose_cut(messages, start, keep_tokens=10**9)
        assert cut is None or cut > start


@pytest.mark.parametrize("budget", range(0, 400, 7))
def test_the_kept_messages_never_begin_with_results_nor_part_a_call_from_them(budget):
    messages = conversation()

    cut = choose_cut(messages, 0, budget)

    assert cut is not None
    assert messages[cut].role != "tool"
    view = ContextState(summary=Summary("earlier", cut)).view(messages)
    assert_valid_for_every_provider(view)


def test_every_place_a_cut_may_fall_is_accepted_by_every_adapter():
    messages = conversation()
    boundaries = [i for i in range(1, len(messages)) if messages[i].role != "tool"]

    assert boundaries == [1, 2, 3, 5, 7, 8, 9, 10, 11]
    for cut in boundaries:
        assert_valid_for_every_provider(ContextState(summary=Summary("s", cut)).view(messages))
    # A cut at results would part them from their calls: the providers would refuse it.
    with pytest.raises(AssertionError):
        assert_valid_for_every_provider(ContextState(summary=Summary("s", 4)).view(messages))


def assert_valid_for_every_provider(view: list[Message]) -> None:
    """What Anthropic, Chat Completions and Responses would refuse in a conversation."""
    turns = wire_messages(view)
    assert turns[0]["role"] == "user"
    assert all(a["role"] != b["role"] for a, b in itertools.pairwise(turns))
    for previous, turn in itertools.pairwise(turns):
        results_ = [b["tool_use_id"] for b in turn["content"] if b["type"] == "tool_result"]
        calls = [b["id"] for b in previous["content"] if b["type"] == "tool_use"]
        assert results_ == calls or (not calls and not results_), (previous, turn)
    chat = _chat_messages(ModelRequest(model="m", instructions="", messages=view))
    assert chat[0]["role"] == "user"
    announced: set[str] = set()
    for message in chat:
        if message["role"] == "tool":
            assert message["tool_call_id"] in announced
        else:
            announced = {call["id"] for call in message.get("tool_calls") or ()}
    items = input_items(view)
    seen = {item["call_id"] for item in items if item.get("type") == "function_call"}
    outputs = {item["call_id"] for item in items if item.get("type") == "function_call_output"}
    assert outputs == seen


def test_the_model_is_sent_the_summary_then_the_messages_after_it():
    messages = conversation()

    assert ContextState().view(messages) is messages
    view = ContextState(summary=Summary("they said hello", 8)).view(messages)

    assert view[0] == Message("user", f"{SUMMARY_HEADER}\n\nthey said hello")
    assert view[1:] == messages[8:]
    assert len(messages) == 13  # the originals stay


def test_the_state_round_trips_through_the_checkpoint_and_is_absent_when_empty():
    state = ContextState(summary=Summary("s", 4), measured_tokens=900, measured_messages=7)

    assert ContextState().to_json() == {}
    assert ContextState.from_json({}) == ContextState()
    assert state.to_json() == {
        "summary": "s",
        "summarized": 4,
        "measured_tokens": 900,
        "measured_messages": 7,
    }
    assert ContextState.from_json(state.to_json()) == state


def test_the_estimate_starts_from_the_last_measured_call_and_adds_what_came_after():
    messages = conversation()
    measured = ContextState().measured(5_000, 10)

    assert measured.request_tokens(50, messages) == 5_000 + tokens(messages[10:])
    assert ContextState().request_tokens(50, messages) == 50 + tokens(messages)
    # A measure of a shorter conversation than now (a resumed run) is not used.
    assert ContextState().measured(5_000, 99).request_tokens(50, messages) == 50 + tokens(messages)
    summarized = ContextState(summary=Summary("s", 8))
    assert summarized.request_tokens(50, messages) == 50 + tokens(summarized.view(messages))


def test_the_window_keeps_room_for_the_answer_and_for_growth():
    window = Window.of(200_000, None)

    assert window.output_allowance == 8_192
    assert window.threshold == int((200_000 - 8_192) * 0.8)
    assert window.summary_tokens == 4_096
    assert window.keep_tokens(1_000) == int(window.usable * 0.3)
    # A large output limit takes at most a quarter of the window; thinking counts too.
    assert Window.of(4_096, 100_000).output_allowance == 1_024
    assert Window.of(200_000, 1_000, thinking=2_000).output_allowance == 3_000
    # Instructions that fill the window leave only the latest exchange to keep.
    assert window.keep_tokens(fixed_tokens=window.threshold) == 0


def test_the_transcript_goes_in_pieces_that_each_fit_one_call():
    messages = [*conversation(), user("y" * 50_000), answer("short")]

    pieces = chunks(messages, 2_000)

    assert [m for piece in pieces for m in piece.messages] == messages
    assert all(len(piece.text) <= 2_000 + 200 for piece in pieces)
    assert "characters left out" in "".join(piece.text for piece in pieces)
    first = pieces[0].text
    assert first.startswith("[user]\nhello\n\n[assistant]\nhi")
    assert '(calls lookup with {"q":"c1"})' in first
    assert "(lookup returned) found c1" in first
    assert "hmm" not in first  # thinking is not summarized


def test_a_clipped_text_keeps_its_head_and_tail():
    text = "a" * 1_000 + "z" * 1_000

    clipped = clip(text, 500)

    assert len(clipped) <= 500 and clipped.startswith("aaa") and clipped.endswith("zzz")
    assert clip("short", 500) == "short"


def test_the_summary_prompt_folds_the_earlier_summary_in():
    assert summary_prompt("", "[user]\nhi", 100).startswith(
        "<transcript>\n[user]\nhi\n</transcript>"
    )
    prompt = summary_prompt("before", "[user]\nhi", 100)

    assert prompt.startswith("<earlier-summary>\nbefore\n</earlier-summary>")
    assert prompt.endswith("at most about 75 words.")


def test_the_checkpoint_keeps_the_summary_and_an_older_one_reads_without_it():
    state = RunState(messages=conversation(), context=ContextState(summary=Summary("s", 8)))

    stored = state.to_json()

    assert stored["context"] == {"summary": "s", "summarized": 8}
    assert RunState.from_json(stored) == state
    assert "context" not in RunState(messages=conversation()).to_json()
    assert RunState.from_json({"messages": []}).context == ContextState()


async def play(request: ModelRequest) -> str:
    pieces = [e.text async for e in ScriptedModel().stream(request) if isinstance(e, TextDelta)]
    return "".join(pieces)


async def test_the_test_models_summary_counts_the_messages_it_stands_for():
    earlier = "Summary of 40 messages. The last user message said: hi"
    transcript = "\n\n".join(render(m, 1_000) for m in conversation())
    prompt = summary_prompt(earlier, transcript, 100)

    digest = await play(
        ModelRequest(model="test", instructions=SUMMARY_INSTRUCTIONS, messages=[user(prompt)])
    )

    assert digest == "Summary of 53 messages. The last user message said: and one more"


async def test_the_test_model_refuses_what_providers_refuse():
    orphan = [user("hi"), results("c1")]
    with pytest.raises(ProviderError, match="answer no call"):
        await play(ModelRequest(model="test", instructions="", messages=orphan))
    too_long = [user("x" * 20_000)]
    with pytest.raises(ProviderError) as refused:
        await play(ModelRequest(model="test-4096", instructions="", messages=too_long))
    assert refused.value.code == "context_length_exceeded"
