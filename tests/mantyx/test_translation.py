"""The pure translation rules of `corral.compat.mantyx.translate`, as plain function calls."""

from __future__ import annotations

from typing import Any

import pytest

from corral.compat.mantyx import translate as protocol
from corral.compat.mantyx.types import Budgets
from corral.errors import InvalidRequest
from corral.types.messages import Message

COMMON = {"seq": 7, "run_id": "run_x", "created_at": "2026-01-01T00:00:00.000000Z"}


@pytest.mark.parametrize(
    ("corral", "expected"),
    [
        ({"type": "run.started", "model": "test"}, {"type": "started", "model": "test"}),
        ({"type": "message.delta", "text": "Hi"}, {"type": "assistant_delta", "text": "Hi"}),
        ({"type": "thinking.delta", "text": "hm"}, {"type": "thinking_delta", "text": "hm"}),
        (
            {
                "type": "message.completed",
                "text": "",
                "tool_calls": [{"call_id": "c1", "name": "f", "input": {"a": 1}}],
            },
            {
                "type": "assistant_message",
                "text": "",
                "toolCalls": [{"toolUseId": "c1", "name": "f", "args": {"a": 1}}],
            },
        ),
        (
            {"type": "tool.started", "call_id": "c1", "name": "bash", "input": {"cmd": "ls"}},
            {
                "type": "tool_result",
                "phase": "start",
                "toolUseId": "c1",
                "name": "bash",
                "args": {"cmd": "ls"},
            },
        ),
        (
            {
                "type": "tool.completed",
                "call_id": "c1",
                "name": "bash",
                "ok": False,
                "output": None,
                "error": "exit 1",
            },
            {
                "type": "tool_result",
                "phase": "end",
                "toolUseId": "c1",
                "name": "bash",
                "ok": False,
                "summary": "exit 1",
            },
        ),
        (
            {"type": "client_tool.call", "call_id": "c2", "name": "read", "input": {"p": "/"}},
            {"type": "local_tool_call", "toolUseId": "c2", "name": "read", "args": {"p": "/"}},
        ),
        (
            {"type": "client_tool.result", "call_id": "c2", "output": "ok", "error": None},
            {"type": "local_tool_result_in", "toolUseId": "c2", "result": "ok"},
        ),
        (
            {"type": "client_tool.result", "call_id": "c2", "output": None, "error": "no"},
            {"type": "local_tool_result_in", "toolUseId": "c2", "error": "no"},
        ),
        (
            {"type": "usage", "input_tokens": 3, "output_tokens": 2, "cost_usd": 0.5},
            {"type": "usage", "inputTokens": 3, "outputTokens": 2, "costUsd": 0.5},
        ),
        (
            {"type": "mcp.unavailable", "server": "docs", "reason": "refused"},
            {"type": "mcp_unavailable", "server": "docs", "reason": "refused"},
        ),
        (
            {"type": "run.completed", "output": "Done"},
            {"type": "result", "subtype": "success", "text": "Done"},
        ),
        (
            {"type": "run.failed", "error": {"code": "client_tool_timeout", "message": "late"}},
            {
                "type": "result",
                "subtype": "error_local_tool_timeout",
                "error": "late",
                "code": "client_tool_timeout",
            },
        ),
        (
            {"type": "run.timed_out", "error": {"code": "run_timeout", "message": "slow"}},
            {
                "type": "result",
                "subtype": "error_run_timeout",
                "error": "slow",
                "code": "run_timeout",
            },
        ),
        (
            {"type": "run.cancelled", "reason": "cancelled by request"},
            {"type": "cancelled", "reason": "cancelled by request"},
        ),
    ],
    ids=lambda value: value["type"] if isinstance(value, dict) and "." in value["type"] else "",
)
def test_each_corral_event_becomes_the_protocols_event_with_top_level_fields(corral, expected):
    translated = protocol.event({**COMMON, **corral})

    assert translated == {
        "seq": 7,
        **expected,
        "runId": "run_x",
        "createdAt": COMMON["created_at"],
    }


def test_an_event_type_the_protocol_has_no_use_for_is_left_out():
    assert protocol.event({**COMMON, "type": "approval.requested"}) is None


def test_a_long_tool_output_is_summarised():
    translated = protocol.event(
        {
            **COMMON,
            "type": "tool.completed",
            "call_id": "c",
            "name": "read",
            "ok": True,
            "output": "x" * 5_000,
            "error": None,
        }
    )

    assert translated is not None
    assert len(translated["summary"]) == protocol.SUMMARY_MAX_CHARS


@pytest.mark.parametrize(
    ("model_id", "expected"),
    [
        ("test", "test"),
        ("provider:anthropic:claude-haiku-4-5", "anthropic/claude-haiku-4-5"),
        ("provider:ollama:llama3.1:8b", "ollama/llama3.1:8b"),
        ("provider:anthropic", "provider:anthropic"),
        ("anthropic/claude-haiku-4-5", "anthropic/claude-haiku-4-5"),
    ],
)
def test_model_ids_map_to_corral_model_ids(model_id, expected):
    assert protocol.model_ref(model_id) == expected


def test_error_bodies_carry_the_code_twice_under_the_protocols_names():
    body = protocol.error_body({"error": "unknown_tool_call", "message": "no", "field": "/x"})

    assert body == {
        "error": "unknown_tool_use",
        "code": "unknown_tool_use",
        "message": "no",
        "field": "/x",
    }


@pytest.mark.parametrize("agent_id", ["helper", "agt_01JD5X3V6Q8Z0M9T2B4C7E1F3H", "a.b-c_d"])
def test_agent_ids_and_names_are_well_formed_agent_references(agent_id):
    protocol.check_agent_ref(agent_id)


@pytest.mark.parametrize("agent_id", ["agt_nope", "has space", "", "x" * 101, "_lead"])
def test_anything_else_is_a_malformed_agent_reference(agent_id):
    with pytest.raises(InvalidRequest):
        protocol.check_agent_ref(agent_id)


STORED: dict[str, Any] = {"model": "test", "instructions": "Hi", "tools": [], "limits": {}}


def test_a_request_that_changes_nothing_keeps_the_stored_agent():
    assert protocol.overlay(STORED, model="test", budgets=None, tools=[]) is None
    assert protocol.overlay(STORED, model=None, budgets=Budgets(), tools=[]) is None


def test_a_request_that_changes_the_agent_gets_a_copy_of_its_spec():
    tool = {"type": "client", "name": "f", "description": "", "parameters": {}}

    changed = protocol.overlay(STORED, model="other", budgets=Budgets(maxToolTurns=2), tools=[tool])

    assert changed == {**STORED, "model": "other", "limits": {"max_turns": 3}, "tools": [tool]}
    assert STORED["tools"] == []


def test_a_sessions_history_keeps_only_text_turns():
    messages = [
        Message(role="user", content="Weather?"),
        Message(
            role="assistant",
            content=[
                {"type": "thinking", "text": "call it"},
                {"type": "tool_call", "call_id": "c", "name": "w", "input": {}},
            ],
        ),
        Message(
            role="tool",
            content=[{"type": "tool_result", "call_id": "c", "name": "w", "output": "sun"}],
        ),
        Message(role="assistant", content=[{"type": "text", "text": "Sunny."}]),
    ]

    assert [m.model_dump() for m in protocol.history(messages)] == [
        {"role": "user", "content": "Weather?"},
        {"role": "assistant", "content": "Sunny."},
    ]
