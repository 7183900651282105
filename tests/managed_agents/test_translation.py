"""The facade's pure rules, where a live server cannot show them cheaply."""

from __future__ import annotations

import pytest

from corral.compat.anthropic.sessions import status_of
from corral.compat.anthropic.translate.events import EventTranslator
from corral.compat.anthropic.translate.numbering import cursor_of, event_id


@pytest.mark.parametrize(
    ("session", "run", "attempts", "shown"),
    [
        ("idle", None, 0, "idle"),
        ("running", "queued", 0, "running"),
        ("running", "queued", 1, "rescheduling"),
        ("running", "running", 2, "running"),
        ("ended", None, 0, "terminated"),
    ],
)
def test_a_turn_that_lost_its_worker_shows_rescheduling(session, run, attempts, shown):
    assert status_of(session, run, attempts) == shown


def test_event_ids_carry_the_cursor_they_came_from():
    assert cursor_of(event_id(42, 3)) == 42
    assert cursor_of("sevt_receipt_abc") is None
    assert cursor_of("evt_1_2") is None


def event(kind: str, **fields):
    return {"type": kind, "run_id": "run_1", "created_at": "2026-01-01T00:00:00Z", **fields}


def test_a_waiting_group_gets_the_same_idle_event_wherever_the_log_is_cut():
    log = [
        event("run.started", model="test"),
        event("message.completed", text="", tool_calls=[]),
        event("client_tool.call", call_id="a", name="t", input={}),
        event("client_tool.call", call_id="b", name="t", input={}),
    ]

    def translate(flush_after: set[int]) -> list[dict]:
        translator = EventTranslator({"run_1": "go"}, frozenset())
        out = []
        for cursor, stored in enumerate(log, start=1):
            out += [t.event for t in translator.feed(cursor, stored)]
            if cursor in flush_after:
                out += [t.event for t in translator.flush()]
        out += [t.event for t in translator.feed(5, event("client_tool.result", call_id="a"))]
        return out

    whole, cut = translate({4}), translate(set())
    idle = [e for e in whole if e["type"] == "session.status_idle"]
    assert idle == [e for e in cut if e["type"] == "session.status_idle"]
    assert idle[0]["stop_reason"]["event_ids"] == [
        e["id"] for e in whole if e["type"] == "agent.custom_tool_use"
    ]
