"""The in-process tail of the event log answers only when it holds every event asked for."""

from __future__ import annotations

from corral.storage.events import StoredEvent
from corral.storage.recent import RecentEvents


def events(first: int, last: int) -> list[StoredEvent]:
    return [StoredEvent(seq, "message.delta", f'{{"seq":{seq}}}') for seq in range(first, last + 1)]


def test_it_returns_the_events_after_a_cursor_it_holds_in_order_and_in_pages():
    recent = RecentEvents()
    recent.add("run_1", events(1, 3))
    recent.add("run_1", events(4, 5))

    assert [e.seq for e in recent.after("run_1", 2, limit=10)] == [3, 4, 5]
    assert [e.seq for e in recent.after("run_1", 0, limit=2)] == [1, 2]


def test_it_says_nothing_when_it_cannot_vouch_for_the_next_event():
    recent = RecentEvents(per_run=3)
    recent.add("run_1", events(1, 5))  # keeps 3, 4, 5

    assert recent.after("run_1", 1, limit=10) == []  # 2 is no longer here
    assert recent.after("run_1", 5, limit=10) == []  # nothing newer here; another may have it
    assert recent.after("run_2", 0, limit=10) == []
    assert [e.seq for e in recent.after("run_1", 2, limit=10)] == [3, 4, 5]


def test_events_written_elsewhere_in_between_leave_no_gap():
    recent = RecentEvents()
    recent.add("run_1", events(1, 3))
    recent.add("run_1", events(7, 8))  # 4 to 6 were committed by another process

    assert recent.after("run_1", 3, limit=10) == []
    assert [e.seq for e in recent.after("run_1", 6, limit=10)] == [7, 8]


def test_it_keeps_only_the_runs_written_to_most_recently():
    recent = RecentEvents(runs=2)
    for run_id in ("run_1", "run_2", "run_3"):
        recent.add(run_id, events(1, 1))

    assert recent.after("run_1", 0, limit=10) == []
    assert [e.seq for e in recent.after("run_3", 0, limit=10)] == [1]
