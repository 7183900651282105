from __future__ import annotations

from datetime import UTC, datetime

import pytest

from corral.domain import events, runs
from corral.domain.event_log import format_time, resume_after
from corral.errors import InvalidRequest, RunTerminal
from corral.types.runs import RunStatus


@pytest.mark.parametrize(
    ("current", "target", "allowed"),
    [
        ("queued", "running", True),
        ("queued", "cancelled", True),
        ("running", "waiting", True),
        ("waiting", "running", True),
        ("running", "completed", True),
        ("waiting", "timed_out", True),
        ("completed", "running", False),
        ("cancelled", "completed", False),
        ("queued", "waiting", False),
        ("failed", "cancelled", False),
    ],
    ids=lambda v: str(v),
)
def test_the_run_state_machine(current, target, allowed):
    assert runs.can_transition(current, target) is allowed


def test_every_terminal_status_has_exactly_one_terminal_event_type():
    terminal = {RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED, RunStatus.TIMED_OUT}
    assert set(runs.TERMINAL_EVENT) == terminal
    assert len(set(runs.TERMINAL_EVENT.values())) == 4


NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_ending_a_run_releases_its_lease_and_checkpoint_and_names_its_terminal_event():
    completed = runs.end(RunStatus.WAITING, RunStatus.COMPLETED, now=NOW, output="done")
    failed = runs.end(
        RunStatus.RUNNING, RunStatus.FAILED, now=NOW, error=events.Failure(code="x", message="y")
    )
    cancelled = runs.end(RunStatus.QUEUED, RunStatus.CANCELLED, now=NOW, reason="session ended")

    assert completed.event.entry() == ("run.completed", {"output": "done"})
    assert failed.event.entry() == ("run.failed", {"error": {"code": "x", "message": "y"}})
    assert failed.values["error"] == {"code": "x", "message": "y"}
    assert cancelled.event.entry() == ("run.cancelled", {"reason": "session ended"})
    for ending in (completed, failed, cancelled):
        assert ending.values["ended_at"] == NOW
        assert ending.values["lease_owner"] is ending.values["checkpoint"] is None
    assert completed.values["status"] == "completed" and completed.values["output"] == "done"
    assert "output" not in cancelled.values  # a cancelled run keeps what it had


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (RunStatus.COMPLETED, RunStatus.CANCELLED),
        (RunStatus.CANCELLED, RunStatus.FAILED),
        (RunStatus.QUEUED, RunStatus.COMPLETED),
        (RunStatus.RUNNING, RunStatus.WAITING),
    ],
)
def test_a_run_ends_only_as_the_state_machine_allows(current, target):
    with pytest.raises(RunTerminal):
        runs.end(current, target, now=NOW)


def test_later_metadata_layers_win():
    assert runs.merge_metadata({"a": "1", "b": "1"}, {"b": "2"}, {"c": "3"}) == {
        "a": "1",
        "b": "2",
        "c": "3",
    }


def test_the_fingerprint_ignores_key_order_but_not_values():
    assert runs.fingerprint({"a": 1, "b": [1, 2]}) == runs.fingerprint({"b": [1, 2], "a": 1})
    assert runs.fingerprint({"a": 1}) != runs.fingerprint({"a": 2})


@pytest.mark.parametrize(
    ("header", "after", "expected"),
    [(None, None, 0), (None, 5, 5), ("7", None, 7), ("7", 3, 7), (" 9 ", None, 9), ("", 4, 4)],
    ids=str,
)
def test_the_last_event_id_header_wins_over_after(header, after, expected):
    assert resume_after(last_event_id=header, after=after) == expected


@pytest.mark.parametrize("header", ["abc", "-1", "1.5"])
def test_a_malformed_last_event_id_is_an_invalid_request(header):
    with pytest.raises(InvalidRequest) as raised:
        resume_after(last_event_id=header, after=None)
    assert raised.value.field == "Last-Event-ID"


def test_times_are_rfc3339_utc_with_a_z():
    from datetime import UTC, datetime, timedelta, timezone

    moment = datetime(2026, 11, 23, 17, 0, 0, 123456, tzinfo=timezone(timedelta(hours=2)))
    assert format_time(moment) == "2026-11-23T15:00:00.123456Z"
    assert format_time(datetime(2026, 1, 1, tzinfo=UTC)).endswith("00.000000Z")
