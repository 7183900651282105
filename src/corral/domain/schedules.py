"""Cron schedules read in a time zone, and what a schedule owes when its time comes.

A schedule remembers only the next time it fires. When a scheduler sees that time has passed,
`due` says what to do: fire the time that just came, and, for times that passed while no
server was up, either skip them (one record says how many) or fire once for all of them. A
time counts as just come while it is less than a grace late (never more than its interval),
so a scheduler a moment late does not miss it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from corral.types.routines import CatchUp

__all__ = ["Due", "InvalidSchedule", "Schedule", "due"]

MAX_SCANNED = 1000
"""Passed times counted one by one; beyond this, the count stops and the rest are jumped."""


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

    fire_at: datetime | None
    """The time to fire a run for, if any."""
    coalesced: int
    """Passed times that this fire stands for besides its own (`catch_up: once`)."""
    skipped_at: datetime | None
    """With `catch_up: skip`, the last of the passed times that fire nothing."""
    skipped: int
    """How many passed times fire nothing."""
    next_fire_at: datetime
    """The schedule's next time after now."""


def due(
    schedule: Schedule,
    next_fire_at: datetime,
    now: datetime,
    *,
    catch_up: CatchUp,
    grace_s: float,
) -> Due:
    """What to do for the times from `next_fire_at` up to `now` (at least one has come)."""
    on_time: datetime | None = None
    passed: list[datetime] = []
    moment, scanned = next_fire_at, 0
    while moment <= now:
        if scanned == MAX_SCANNED:  # a long outage: jump to the last time, counting no more
            moment = _last_at_or_before(schedule, now)
        following = schedule.next_after(moment)
        grace = min(timedelta(seconds=grace_s), following - moment)
        if now - moment <= grace:
            on_time = moment
        else:
            passed.append(moment)
        moment, scanned = following, scanned + 1
    if catch_up is CatchUp.ONCE:
        if on_time is not None:
            return Due(on_time, len(passed), None, 0, moment)
        return Due(passed[-1] if passed else None, max(len(passed) - 1, 0), None, 0, moment)
    return Due(on_time, 0, passed[-1] if passed else None, len(passed), moment)


def _last_at_or_before(schedule: Schedule, now: datetime) -> datetime:
    """The schedule's last time at or before `now`."""
    local = (now + timedelta(microseconds=1)).astimezone(ZoneInfo(schedule.timezone))
    it = croniter(schedule.cron, local, second_at_beginning=schedule.has_seconds)
    found: datetime = it.get_prev(datetime)
    return found.astimezone(UTC)
