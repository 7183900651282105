"""The lines the client commands print, built from SDK objects without a server."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from corral.cli import errors, output
from corral.client import APIConnectionError, InvalidRequestError, PermissionDeniedError
from corral.types.runs import Run

STARTED_AT = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def make_run(**overrides: Any) -> Run:
    fields = {
        "id": "run_1",
        "status": "completed",
        "agent": None,
        "agent_version": None,
        "session": None,
        "model": "test",
        "input": "hi",
        "output": "hi",
        "error": None,
        "usage": {"input_tokens": 120, "output_tokens": 40, "cost_usd": 0.00123},
        "metadata": {},
        "created_at": STARTED_AT,
        "started_at": STARTED_AT,
        "ended_at": STARTED_AT + timedelta(seconds=1.2),
    }
    return Run.model_validate({**fields, **overrides})


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [(0.0123, "12 ms"), (1.24, "1.2 s"), (59.9, "59.9 s"), (185, "3 min 5 s"), (3600, "60 min")],
    ids=["ms", "s", "under-a-minute", "min-and-s", "whole-minutes"],
)
def test_durations_read_naturally(seconds, shown):
    assert output.format_duration(seconds) == shown


def test_the_summary_of_a_completed_run():
    assert output.summary(make_run()).plain == (
        "completed in 1.2 s · 120 in / 40 out tokens · $0.0012 · run_1"
    )


def test_the_summary_of_a_failed_run_names_its_error_code():
    run = make_run(
        status="failed", output=None, error={"code": "provider_error", "message": "boom"}
    )

    assert output.summary(run).plain.startswith("failed in 1.2 s · provider_error: boom · ")


def test_an_invalid_request_names_the_field():
    error = InvalidRequestError(
        "/metadata: too many",
        status=400,
        code="invalid_request",
        body={"error": "invalid_request", "field": "/metadata"},
    )

    assert errors.describe(error).plain == (
        "error: invalid_request: /metadata: too many (field: /metadata)"
    )


def test_a_missing_scope_says_which_scope_is_needed():
    error = PermissionDeniedError(
        "the key lacks a scope",
        status=403,
        code="insufficient_scope",
        body={"error": "insufficient_scope", "required_scope": "runs:write"},
    )

    assert errors.describe(error).plain.endswith("— use a key with the `runs:write` scope")


def test_a_connection_error_asks_whether_the_server_runs_there():
    line = errors.describe(APIConnectionError("refused"), "http://corral.test:7070").plain

    assert line.startswith("error: connection_error: refused — is the server running at ")
    assert "http://corral.test:7070?" in line


def test_arguments_shown_for_approval_cannot_hide_what_they_say():
    # A right-to-left override or a zero-width space could make one command read as another.
    shown = output.compact_json({"command": "echo safe\u202e;hs.evil\u200b", "note": "é 中"})

    assert shown == '{"command": "echo safe\\u202e;hs.evil\\u200b", "note": "é 中"}'
    assert output.compact_json({"x": "\x1b[2J\x85"}) == '{"x": "\\u001b[2J\\u0085"}'
