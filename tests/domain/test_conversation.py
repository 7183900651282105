"""The typed conversation: stored JSON in, the same JSON out."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from corral.domain.conversation import (
    Message,
    Text,
    Thinking,
    ToolCall,
    ToolResult,
    input_messages,
    last_user_text,
    parse_message,
    parse_messages,
)
from corral.domain.tool_calls import CallKind, PendingCall, parse_pending_call

STORED = [
    {"role": "user", "content": "What is in the box?"},
    {
        "role": "assistant",
        "content": [
            {"type": "thinking", "text": "Look first.", "signature": "sig"},
            {"type": "thinking", "text": "", "signature": "enc", "id": "rs_1"},
            {"type": "thinking", "text": "unsigned", "signature": None},
            {"type": "text", "text": "Let me look."},
            {
                "type": "tool_call",
                "call_id": "call_1",
                "name": "open_box",
                "input": {"lid": True},
                "provider_call_id": "toolu_1",
            },
            {"type": "tool_call", "call_id": "call_2", "name": "weigh", "input": {}},
        ],
    },
    {
        "role": "tool",
        "content": [
            {
                "type": "tool_result",
                "call_id": "call_1",
                "name": "open_box",
                "output": "a cat",
                "is_error": False,
            },
            {
                "type": "tool_result",
                "call_id": "call_2",
                "name": "weigh",
                "output": "no scale",
                "is_error": True,
            },
        ],
    },
]


def test_stored_messages_round_trip_byte_for_byte():
    messages = parse_messages(STORED)

    assert orjson.dumps([m.to_json() for m in messages]) == orjson.dumps(STORED)
    assert messages[0] == Message("user", "What is in the box?")
    assert messages[1].blocks()[4] == ToolCall("call_1", "open_box", {"lid": True}, "toolu_1")
    assert messages[2].blocks()[1] == ToolResult("call_2", "weigh", "no scale", is_error=True)


def test_older_rows_are_read_leniently():
    message = parse_message(
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "text": "hm"},
                {"type": "text", "text": "hi", "cache_control": {"type": "ephemeral"}},
                {"type": "image", "source": "..."},
                {"type": "tool_call", "call_id": "c", "name": "n"},
            ],
            "created_at": "2024-01-01T00:00:00Z",
        }
    )

    assert message.blocks() == (Thinking("hm"), Text("hi"), ToolCall("c", "n", {}))
    result = {"type": "tool_result", "call_id": "c", "name": "n", "output": "x"}
    assert parse_message({"role": "tool", "content": [result]}).blocks() == (
        ToolResult("c", "n", "x"),
    )


def test_an_unknown_role_is_refused():
    with pytest.raises(ValueError, match="role"):
        parse_message({"role": "system", "content": "x"})


def test_a_string_is_one_text_block_and_an_empty_one_none():
    assert Message("user", "hi").blocks() == (Text("hi"),)
    assert Message("user", "").blocks() == ()
    assert Message("user", "hi").to_json() == {"role": "user", "content": "hi"}


def test_run_input_and_the_last_user_text():
    messages = [
        *input_messages([{"role": "user", "content": "first", "name": "ignored"}]),
        Message("assistant", (Text("ok"),)),
        *input_messages("second"),
        Message("assistant", "done"),
    ]

    assert messages[0] == Message("user", "first")
    assert last_user_text(messages) == "second"
    assert last_user_text([]) == ""


def test_a_pending_call_stores_only_the_keys_it_has():
    call = ToolCall("call_1", "lookup", {"q": "x"})
    pending = PendingCall.of(call, kind=CallKind.SERVER)

    assert pending.to_json() == {
        "call_id": "call_1",
        "name": "lookup",
        "input": {"q": "x"},
        "kind": "server",
    }
    failed = PendingCall.of(
        ToolCall("call_2", "nope", {}, "toolu_2"), kind=CallKind.SERVER, error="unknown tool"
    )
    assert failed.to_json() == {
        "call_id": "call_2",
        "name": "nope",
        "input": {},
        "provider_call_id": "toolu_2",
        "kind": "server",
        "error": "unknown tool",
    }
    assert parse_pending_call(failed.to_json()) == failed


def test_an_issued_client_call_carries_its_deadline():
    now = datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    pending = PendingCall.of(ToolCall("c", "ask", {}), kind=CallKind.CLIENT)

    issued = pending.issued(now, 30)

    assert pending.deadline_at is None
    assert issued.to_json() == {
        "call_id": "c",
        "name": "ask",
        "input": {},
        "kind": "client",
        "deadline_at": "2025-01-02T03:04:35.678901Z",
        "timeout_s": 30,
    }
    assert issued.deadline() == datetime(2025, 1, 2, 3, 4, 35, 678901, tzinfo=UTC)
    assert parse_pending_call(issued.to_json()) == issued
    with pytest.raises(ValueError, match="never announced"):
        pending.deadline()
