"""A run's spec: parsed from the JSON stored with the run, and written back unchanged."""

from __future__ import annotations

import pytest

from corral.domain.budgets import Budget
from corral.domain.run_spec import (
    BuiltinTool,
    ClientTool,
    InputFile,
    McpServerSpec,
    Networking,
    RunEnvironment,
    SkillFile,
    merge_tools,
    parse_run_spec,
    parse_tool_ref,
)
from corral.errors import InvalidRequest

STORED = {
    "model": "openai/gpt-4o-mini",
    "instructions": "Be brief.",
    "tools": [
        {"type": "builtin", "name": "bash"},
        {
            "type": "client",
            "name": "lookup",
            "description": "Find a customer.",
            "parameters": {"type": "object", "properties": {"id": {"type": "string"}}},
            "timeout_s": 30.0,
        },
        {
            "type": "mcp",
            "name": "docs",
            "url": "https://mcp.example.com/mcp",
            "headers": {"Authorization": "Bearer x"},
            "command": None,
            "args": [],
            "env": {},
            "tools": ["search"],
            "connect_timeout_s": 10.0,
            "call_timeout_s": 60.0,
            "idempotent": True,
        },
    ],
    "builtin_tools": ["read", "write"],
    "environment": {
        "networking": {"mode": "limited", "allowed_hosts": ["api.example.com"]},
        "variables": {"LANG": "C"},
        "runtime": "medium",
        "setup": ["pip install rich"],
    },
    "limits": {
        "max_turns": 8,
        "max_tool_calls_per_turn": 4,
        "max_output_tokens": None,
        "timeout_s": 600.0,
    },
    "model_settings": {
        "temperature": 0.2,
        "reasoning_effort": None,
        "thinking_budget_tokens": None,
    },
    "skills": [{"file_id": "file_skill"}],
    "files": [
        {"path": "data/a.csv", "file_id": "file_a"},
        {"path": "notes.txt", "content_base64": "aGk="},
    ],
}


def test_a_stored_spec_is_typed_and_written_back_as_it_was():
    spec = parse_run_spec(STORED)

    assert spec.model == "openai/gpt-4o-mini"
    assert spec.tools[0] == BuiltinTool(name="bash")
    assert isinstance(spec.tools[1], ClientTool) and spec.tools[1].timeout_s == 30.0
    assert spec.mcp_servers == [spec.tools[2]]
    assert spec.mcp_servers[0].tools == ("search",)
    assert [tool.name for tool in spec.client_tools] == ["lookup"]
    assert spec.environment.networking == Networking(
        mode="limited", allowed_hosts=("api.example.com",)
    )
    assert spec.environment.setup == ("pip install rich",)
    assert spec.limits == Budget(
        max_turns=8, max_tool_calls_per_turn=4, max_output_tokens=None, timeout_s=600.0
    )
    assert spec.model_settings.temperature == 0.2
    assert spec.files == (
        InputFile(path="data/a.csv", file_id="file_a"),
        InputFile(path="notes.txt", content_base64="aGk="),
    )
    assert spec.skills == (SkillFile(file_id="file_skill"),)
    assert spec.has_inputs
    assert spec.to_json() == STORED


def test_files_and_skills_are_stored_only_when_the_run_has_some():
    stored = {key: value for key, value in STORED.items() if key not in ("files", "skills")}

    spec = parse_run_spec(stored)

    assert not spec.has_inputs
    assert spec.to_json() == stored


def test_older_specs_parse_with_defaults_and_unknown_keys_are_ignored():
    spec = parse_run_spec(
        {
            "model": "test-model",
            "tools": [{"type": "client", "name": "ask"}],
            "limits": {"max_turns": 2, "max_tool_calls_per_turn": 1, "timeout_s": 5},
            "agent_metadata": {"team": "support"},
        }
    )

    assert spec.instructions == ""
    assert spec.builtin_tools == ()
    assert spec.environment == RunEnvironment()
    assert spec.tools == (ClientTool(name="ask"),)
    assert spec.limits.max_output_tokens is None
    assert "agent_metadata" not in spec.to_json()


def test_a_malformed_stored_host_pattern_is_kept_for_the_egress_policy_to_ignore():
    environment = RunEnvironment.from_json(
        {"networking": {"mode": "limited", "allowed_hosts": ["ok.example", "x.com:99999"]}}
    )

    assert environment.networking.allowed_hosts == ("ok.example", "x.com:99999")


def test_an_unknown_tool_reference_type_is_refused():
    with pytest.raises(ValueError, match="unknown tool reference type 'webhook'"):
        parse_tool_ref({"type": "webhook", "name": "x"})


def test_an_mcp_server_needs_exactly_one_transport():
    with pytest.raises(ValueError, match="exactly one of url or command"):
        McpServerSpec(name="both", url="https://x.example/mcp", command="srv")


def test_run_tools_follow_the_agent_tools_and_names_must_be_unique():
    agent = [ClientTool(name="a")]
    assert [t.name for t in merge_tools(agent, [ClientTool(name="b")])] == ["a", "b"]
    with pytest.raises(InvalidRequest) as raised:
        merge_tools(agent, [ClientTool(name="x"), ClientTool(name="a")])
    assert raised.value.field == "/tools/1/name"
    with pytest.raises(InvalidRequest) as raised:
        merge_tools([BuiltinTool(name="a"), ClientTool(name="a")], [])
    assert raised.value.field == "/tools"
