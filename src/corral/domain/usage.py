"""Rules of usage reports: the time range a report covers, and what it groups by."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from corral.errors import InvalidRequest
from corral.types.usage import UsageGrouping


def month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of the month `moment` falls in."""
    return moment.astimezone(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(moment: datetime) -> datetime:
    """Midnight UTC on the first day of the month after the one `moment` falls in."""
    start = month_start(moment)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def _utc(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidRequest(f"{field} needs a time zone (say Z for UTC)", field=field)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"{field} is out of range", field=field) from None


def report_range(
    since: datetime | None, until: datetime | None, *, now: datetime
) -> tuple[datetime, datetime]:
    """The range a report covers, in UTC: `since` included, `until` excluded.

    Without either, the current UTC month. `until` alone reaches back to the start of the month
    it ends; `since` alone runs to the end of the current month (so it takes in everything yet).
    """
    end = _utc(until, "until") if until is not None else next_month_start(now)
    if since is not None:
        start = _utc(since, "since")
    else:
        try:
            start = month_start(end - timedelta(microseconds=1))
        except OverflowError:
            raise InvalidRequest("until is out of range", field="until") from None
    if start > end:
        raise InvalidRequest("since must not be later than until", field="since")
    return start, end


def groupings(requested: Iterable[UsageGrouping]) -> tuple[UsageGrouping, ...]:
    """The groupings asked for, in order, each once."""
    return tuple(dict.fromkeys(requested))
