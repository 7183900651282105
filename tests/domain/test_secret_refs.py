"""`${secret:NAME}` references: found with the field that holds them, filled in only there."""

from __future__ import annotations

from corral.domain.budgets import Budget
from corral.domain.run_spec import McpServerSpec, RunEnvironment, RunSpec
from corral.domain.secret_refs import fill_spec, names_in, references

SPEC = RunSpec(
    model="test",
    environment=RunEnvironment(variables={"PLAIN": "x", "TOKEN": "${secret:gh}"}),
    tools=(
        McpServerSpec(
            name="remote",
            url="https://mcp.example.com",
            headers={"Authorization": "Bearer ${secret:mcp.key}", "X-Other": "${secret}"},
        ),
        McpServerSpec(name="local", command="server", env={"A": "${secret:gh}-${secret:b-2}"}),
    ),
    limits=Budget(max_turns=1, max_tool_calls_per_turn=1, max_output_tokens=None, timeout_s=1),
)


def test_every_reference_is_found_with_its_field() -> None:
    assert list(references(SPEC)) == [
        ("/environment/variables/TOKEN", "gh"),
        ("/tools/0/headers/Authorization", "mcp.key"),
        ("/tools/1/env/A", "gh"),
        ("/tools/1/env/A", "b-2"),
    ]
    assert names_in("no reference, ${secret:} or $secret:x") == []


def test_filling_puts_each_value_where_it_was_named_and_leaves_the_stored_spec_alone() -> None:
    filled = fill_spec(SPEC, {"gh": "GH", "mcp.key": "MK", "b-2": "B2"})

    assert dict(filled.environment.variables) == {"PLAIN": "x", "TOKEN": "GH"}
    remote, local = filled.mcp_servers
    assert remote.headers == {"Authorization": "Bearer MK", "X-Other": "${secret}"}
    assert local.env == {"A": "GH-B2"}
    assert SPEC.to_json()["environment"]["variables"]["TOKEN"] == "${secret:gh}"
    assert fill_spec(SPEC, {}) is SPEC
