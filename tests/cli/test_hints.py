"""What an error line suggests: the server's candidates, and hints that point the right way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from corral.cli import errors
from corral.cli.transcript import tool_failed
from corral.client import InvalidRequestError, NotFoundError
from corral.types.events import ToolCompleted


def invalid_model(candidates: list[str]) -> InvalidRequestError:
    return InvalidRequestError(
        "unknown model 'claude-sonet'",
        status=400,
        code="invalid_model",
        body={"error": "invalid_model", "field": "/agent_spec/model", "candidates": candidates},
    )


def not_found(message: str) -> NotFoundError:
    return NotFoundError(message, status=404, code="not_found", body={"error": "not_found"})


@pytest.mark.parametrize(
    ("candidates", "suggestion"),
    [
        (["claude-sonnet-4-5"], "did you mean claude-sonnet-4-5?"),
        (["a", "b", "c"], "one of: a, b, c"),
        ([f"m{i}" for i in range(11)], "one of: m0, m1, m2, m3, m4, m5, m6, m7 (and 3 more)"),
    ],
    ids=["one", "several", "many"],
)
def test_the_servers_candidates_become_a_suggestion(candidates, suggestion):
    line = errors.describe(invalid_model(candidates)).plain

    assert line == (
        "error: invalid_model: unknown model 'claude-sonet' (field: /agent_spec/model)"
        f" — {suggestion}; see `corral models` for the models this server can run"
    )


def test_a_missing_output_asks_to_check_the_output_name():
    line = errors.describe(not_found("run run_1 has no output 'report.md'")).plain

    assert line.endswith("— check the output name (`corral outputs RUN_ID`)")


def test_a_missing_route_points_at_the_base_url():
    line = errors.describe(not_found("no route /v2/runs")).plain

    assert line.endswith(
        "— check the server's address, which takes no path (CORRAL_BASE_URL or --base-url)"
    )


def completed(name: str, *, ok: bool = True, output: str | None = None) -> ToolCompleted:
    base: dict[str, Any] = {"seq": 1, "run_id": "run_t", "created_at": datetime.now(UTC)}
    error = None if ok else "no such file"
    return ToolCompleted(**base, call_id="c1", name=name, ok=ok, output=output, error=error)


@pytest.mark.parametrize(
    ("event", "failed"),
    [
        (completed("bash", output="built\n[exit code 0]"), False),
        (completed("bash", output="oops\n[exit code 2]"), True),
        (completed("git", output="[exit code 128]"), True),
        (completed("bash", output="[killed: the command ran longer than 5 s]"), True),
        (completed("bash", output="[killed by signal 9]"), True),
        (completed("bash", output="[exit code 1] was the old answer\n[exit code 0]"), False),
        (completed("read", output="the log says [exit code 1]"), False),
        (completed("read", ok=False), True),
    ],
    ids=[
        "exit-0",
        "exit-2",
        "git",
        "timeout",
        "signal",
        "last-line-counts",
        "not-a-command",
        "error",
    ],
)
def test_a_call_is_failed_when_it_errs_or_its_command_did_not_exit_0(event, failed):
    assert tool_failed(event) is failed


def test_the_cli_points_the_right_way_for_a_missing_output_and_a_v1_base_url(cli, sdk):
    run = sdk.runs.run(input="done", model="test")

    missing = cli("download", run.id, "no-such-output.txt", ok=False)
    with_prefix = cli("whoami", env={"CORRAL_BASE_URL": f"{cli.base_url}/v1"})

    assert missing.stderr.startswith("error: not_found:")
    assert "check the output name" in missing.stderr
    assert with_prefix.stdout.startswith("server")
