"""What a subagent call may ask for, and when a tree is too deep or too wide."""

from __future__ import annotations

import pytest

from corral.domain.subagents import (
    AgentTool,
    ChildRequest,
    Refusal,
    SubagentLimits,
    SubagentTool,
    agent_request,
    child_outcome,
    refusal,
    spawn_request,
)
from corral.types.errors import ErrorCode
from corral.types.runs import RunStatus

LIMITS = SubagentLimits(max_depth=2, max_children=3, max_live_per_root=5)


@pytest.mark.parametrize(
    ("depth", "started", "live", "code"),
    [
        (0, 0, 0, None),
        (1, 2, 4, None),
        (2, 0, 0, ErrorCode.SUBAGENT_DEPTH_EXCEEDED),
        (0, 3, 0, ErrorCode.SUBAGENT_BREADTH_EXCEEDED),
        (0, 0, 5, ErrorCode.SUBAGENT_BREADTH_EXCEEDED),
    ],
)
def test_a_child_is_refused_past_each_limit_with_its_code(depth, started, live, code):
    refused = refusal(LIMITS, depth=depth, started=started, live=live)
    assert (refused.code if refused else None) == code
    if refused:
        assert refused.text().startswith(f"{code.value}: ")


def test_a_subagent_call_may_not_widen_what_its_parent_has():
    tool = SubagentTool(models=("cheap",))
    builtins = ["bash", "read_file"]

    asked = spawn_request(tool, {"prompt": "p", "tools": ["read_file"]}, builtins=builtins)
    assert isinstance(asked, ChildRequest)
    assert (asked.builtin_tools, asked.awaited) == (("read_file",), False)
    assert spawn_request(tool, {"prompt": "p"}, builtins=builtins).builtin_tools is None
    assert spawn_request(tool, {"prompt": "p", "tools": []}, builtins=builtins).builtin_tools == ()

    for arguments in (
        {"prompt": "p", "tools": ["web_fetch"]},
        {"prompt": "p", "model": "expensive"},
        {"prompt": ""},
        {"prompt": "p", "instructions": 3},
        {"prompt": "p", "tools": "bash"},
    ):
        refused = spawn_request(tool, arguments, builtins=builtins)
        assert isinstance(refused, Refusal), arguments
        assert refused.code is ErrorCode.INVALID_REQUEST


def test_an_agent_tool_takes_a_task():
    tool = AgentTool(name="helper", agent="helper", agent_id="agt_1", agent_version=2)
    asked = agent_request(tool, {"task": "do it"})
    assert isinstance(asked, ChildRequest)
    assert (asked.input, asked.awaited, asked.agent) == ("do it", True, tool)
    assert isinstance(agent_request(tool, {"task": "  "}), Refusal)
    assert isinstance(agent_request(tool, {}), Refusal)


def test_a_child_s_end_is_its_parent_s_result_or_error():
    assert child_outcome("run_1", RunStatus.COMPLETED, "done", None) == ("done", None)
    output, error = child_outcome(
        "run_1", RunStatus.FAILED, None, {"code": "max_turns_exceeded", "message": "too long"}
    )
    assert output is None
    assert error == "the subagent run run_1 failed: max_turns_exceeded: too long"
    assert child_outcome("run_1", RunStatus.CANCELLED, None, None) == (
        None,
        "the subagent run run_1 cancelled",
    )
