"""The checkpoint as stored: a checkpoint written before reads, and writes back, the same."""

from __future__ import annotations

import orjson

from corral.domain.conversation import Message, ToolResult
from corral.domain.tool_calls import CallKind
from corral.runtime.context import RunState

STORED = {
    "messages": [
        {"role": "user", "content": "Ask the caller, and look it up."},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "text": "Both.", "signature": "sig"},
                {
                    "type": "tool_call",
                    "call_id": "call_1",
                    "name": "ask",
                    "input": {"q": "name?"},
                    "provider_call_id": "toolu_1",
                },
                {"type": "tool_call", "call_id": "call_2", "name": "lookup", "input": {}},
            ],
        },
    ],
    "history": 0,
    "turns": 1,
    "input_tokens": 120,
    "output_tokens": 40,
    "cost_usd": 0.25,
    "pending": [
        {
            "call_id": "call_1",
            "name": "ask",
            "provider_call_id": "toolu_1",
            "input": {"q": "name?"},
            "kind": "client",
            "deadline_at": "2025-01-02T03:04:35.678901Z",
            "timeout_s": 30.0,
        },
        {"call_id": "call_2", "name": "lookup", "input": {}, "kind": "server"},
    ],
    "results": [
        {
            "type": "tool_result",
            "call_id": "call_2",
            "name": "lookup",
            "output": "42",
            "is_error": False,
        }
    ],
    "issued": True,
    "seq": 9,
}


def test_a_stored_checkpoint_reads_typed_and_writes_back_unchanged():
    state = RunState.from_json(STORED)

    assert state.messages[0] == Message("user", "Ask the caller, and look it up.")
    assert [call.kind for call in state.pending] == [CallKind.CLIENT, CallKind.SERVER]
    assert state.pending[0].timeout_s == 30.0
    assert state.results == [ToolResult("call_2", "lookup", "42")]
    assert state.to_json() == STORED
    assert list(state.to_json()) == list(STORED)


def test_a_checkpoint_without_the_later_keys_takes_their_defaults():
    state = RunState.from_json({"messages": [{"role": "user", "content": "hi"}], "seq": 3})

    assert state == RunState(messages=[Message("user", "hi")], seq=3)
    assert orjson.loads(orjson.dumps(state.to_json()))["pending"] == []
