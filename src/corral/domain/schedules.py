"""Cron schedules read in a time zone, and what a schedule owes when its time comes.

A schedule remembers only the next time it fires. When a scheduler sees that time has passed,
`due` says what to do: fire each time that came within the grace, and, for times missed
(further back: they passed while no server was up), either skip them (one record says how
many) or fire once for all of them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from corral.types.routines import CatchUp

__all__ = ["Due", "InvalidSchedule", "Schedule", "due", "grace"]

MAX_SCANNED = 1000
"""Passed times counted one by one; beyond this, the count stops and the rest are jumped."""

MIN_GRACE = timedelta(seconds=5)
"""The grace of a schedule more frequent than this: a scheduler slowed by load a few seconds
fires each of its times rather than calling them missed."""


class InvalidSchedule(ValueError):
    """The cron expression or the time zone cannot be read."""


@dataclass(frozen=True, slots=True)
class Schedule:
    """A cron expression (five fields, or six with seconds first) in an IANA time zone."""

    cron: str
    timezone: str

    @classmethod
    def parse(cls, cron: str, timezone: str) -> Schedule:
        """The schedule, or `InvalidSchedule` saying what is wrong."""
        fields = cron.split()
        if len(fields) not in (5, 6):
            raise InvalidSchedule(
                f"a cron expression has 5 fields (minute hour day month weekday) or 6 with "
                f"seconds first; {cron!r} has {len(fields)}"
            )
        try:
            ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise InvalidSchedule(f"{timezone!r} is not an IANA time zone") from None
        schedule = cls(" ".join(fields), timezone)
        try:
            schedule.next_after(datetime(2000, 1, 1, tzinfo=UTC))
        except (CroniterError, ValueError, KeyError) as error:
            raise InvalidSchedule(f"{cron!r} is not a valid cron expression: {error}") from None
        return schedule

    @property
    def has_seconds(self) -> bool:
        """Whether the first field counts seconds."""
        return len(self.cron.split()) == 6

    def next_after(self, moment: datetime) -> datetime:
        """The first time strictly after `moment`, in UTC."""
        local = moment.astimezone(ZoneInfo(self.timezone))
        it = croniter(self.cron, local, second_at_beginning=self.has_seconds)
        found: datetime = it.get_next(datetime)
        return found.astimezone(UTC)

    def upcoming(self, moment: datetime, count: int = 5) -> list[datetime]:
        """The next `count` times after `moment`."""
        times: list[datetime] = []
        for _ in range(count):
            moment = self.next_after(moment)
            times.append(moment)
        return times


@dataclass(frozen=True, slots=True)
class Due:
    """What a schedule owes now."""

    fires: tuple[tuple[datetime, int], ...]
    """The times to fire a run for, each with how many missed times it also stands for."""
    skipped_at: datetime | None
    """With `catch_up: skip`, the last of the missed times, which fire nothing."""
    skipped: int
    """How many missed times fire nothing."""
    next_fire_at: datetime
    """The schedule's next time after now."""


def grace(grace_s: float, interval: timedelta) -> timedelta:
    """How late a time may be seen and still fire as on time.

    The setting, but no longer than the interval (or `MIN_GRACE`, for schedules more frequent
    than that), so that even a short outage of a frequent schedule counts as one.
    """
    return min(timedelta(seconds=grace_s), max(interval, MIN_GRACE))


def due(
    schedule: Schedule,
    next_fire_at: datetime,
    now: datetime,
    *,
    catch_up: CatchUp,
    grace_s: float,
) -> Due:
    """What to do for the times from `next_fire_at` up to `now` (at least one has come)."""
    on_time: list[datetime] = []
    missed: list[datetime] = []
    moment, scanned = next_fire_at, 0
    while moment <= now:
        if scanned == MAX_SCANNED:  # a long outage: jump to the last time, counting no more
            moment = _last_at_or_before(schedule, now)
        following = schedule.next_after(moment)
        late = now - moment <= grace(grace_s, following - moment)
        (on_time if late else missed).append(moment)
        moment, scanned = following, scanned + 1
    if catch_up is CatchUp.SKIP or not missed:
        fires = tuple((time, 0) for time in on_time)
        return Due(fires, missed[-1] if missed else None, len(missed), moment)
    if on_time:  # the first time that fires stands for the missed ones too
        fires = ((on_time[0], len(missed)), *((time, 0) for time in on_time[1:]))
        return Due(fires, None, 0, moment)
    return Due(((missed[-1], len(missed) - 1),), None, 0, moment)


def _last_at_or_before(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's last time at or before `now`."""
    local = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(schedule.timezone))
    it = croniter(schedule.cron, local, second_at_beginning=schedule.has_seconds)
    found: datetime = it.get_prev(datetime)
    return found.astimezone(UTC)
