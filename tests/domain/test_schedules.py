"""Schedules: their times in a time zone, and what a schedule owes after a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from corral.domain.schedules import InvalidSchedule, Schedule, due
from corral.types.routines import CatchUp

HOURLY = Schedule.parse("0 * * * *", "UTC")
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_times_are_read_in_the_schedule_s_time_zone_across_a_dst_change():
    nine_in_paris = Schedule.parse("0 9 * * *", "Europe/Paris")
    before = nine_in_paris.next_after(datetime(2026, 3, 27, 12, tzinfo=UTC))
    after = nine_in_paris.next_after(before)
    assert (before.hour, after.hour) == (8, 7)  # 09:00 CET, then 09:00 CEST (clocks moved)


def test_six_fields_count_seconds_first():
    every_second = Schedule.parse("* * * * * *", "UTC")
    assert every_second.upcoming(T0, 3) == [T0 + timedelta(seconds=s) for s in (1, 2, 3)]


@pytest.mark.parametrize(
    ("cron", "timezone"),
    [("* * *", "UTC"), ("61 * * * *", "UTC"), ("0 9 * * *", "Mars/Base"), ("@daily", "UTC")],
)
def test_unreadable_schedules_are_refused(cron, timezone):
    with pytest.raises(InvalidSchedule):
        Schedule.parse(cron, timezone)


def test_a_time_seen_a_moment_late_fires_as_on_time():
    owed = due(HOURLY, T0, T0 + timedelta(seconds=5), catch_up=CatchUp.SKIP, grace_s=60)
    assert (owed.fires, owed.skipped, owed.next_fire_at) == (
        ((T0, 0),),
        0,
        T0 + timedelta(hours=1),
    )


def test_skip_fires_nothing_for_times_missed_during_an_outage_and_says_how_many():
    now = T0 + timedelta(hours=3, minutes=30)
    owed = due(HOURLY, T0, now, catch_up=CatchUp.SKIP, grace_s=60)
    assert owed.fires == ()
    assert (owed.skipped, owed.skipped_at) == (4, T0 + timedelta(hours=3))
    assert owed.next_fire_at == T0 + timedelta(hours=4)


def test_once_fires_one_run_for_all_the_times_missed():
    now = T0 + timedelta(hours=3, minutes=30)
    owed = due(HOURLY, T0, now, catch_up=CatchUp.ONCE, grace_s=60)
    assert (owed.fires, owed.skipped) == (((T0 + timedelta(hours=3), 3),), 0)


def test_a_missed_time_and_one_just_come_fire_the_latter_once():
    now = T0 + timedelta(hours=2, seconds=10)
    skip = due(HOURLY, T0, now, catch_up=CatchUp.SKIP, grace_s=60)
    assert (skip.fires, skip.skipped) == (((T0 + timedelta(hours=2), 0),), 2)
    once = due(HOURLY, T0, now, catch_up=CatchUp.ONCE, grace_s=60)
    assert (once.fires, once.skipped) == (((T0 + timedelta(hours=2), 2),), 0)


def test_a_frequent_schedule_seen_a_few_seconds_late_fires_each_time():
    every_second = Schedule.parse("* * * * * *", "UTC")
    owed = due(every_second, T0, T0 + timedelta(seconds=3.5), catch_up=CatchUp.SKIP, grace_s=60)
    assert owed.fires == tuple((T0 + timedelta(seconds=s), 0) for s in range(4))
    assert owed.skipped == 0


def test_the_grace_is_never_longer_than_the_interval_or_five_seconds():
    every_second = Schedule.parse("* * * * * *", "UTC")
    owed = due(every_second, T0, T0 + timedelta(seconds=7.5), catch_up=CatchUp.SKIP, grace_s=60)
    assert [time for time, _ in owed.fires] == [T0 + timedelta(seconds=s) for s in (3, 4, 5, 6, 7)]
    assert (owed.skipped, owed.skipped_at) == (3, T0 + timedelta(seconds=2))
    hourly = due(HOURLY, T0, T0 + timedelta(minutes=30), catch_up=CatchUp.SKIP, grace_s=60)
    assert (hourly.fires, hourly.skipped) == ((), 1)


def test_a_very_long_outage_is_jumped_and_still_counted_as_one_record():
    every_second = Schedule.parse("* * * * * *", "UTC")
    now = T0 + timedelta(days=2)
    owed = due(every_second, T0, now, catch_up=CatchUp.ONCE, grace_s=0.5)
    assert owed.fires == ((now, 1000),)
    assert owed.next_fire_at == now + timedelta(seconds=1)
    owed = due(every_second, T0, now + timedelta(seconds=0.7), catch_up=CatchUp.SKIP, grace_s=0.5)
    assert (owed.fires, owed.skipped_at, owed.skipped) == ((), now, 1001)
