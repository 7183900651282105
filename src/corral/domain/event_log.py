"""Rules of the event log: time format, resume cursors and page sizes."""

from __future__ import annotations

from datetime import UTC, datetime

from corral.errors import InvalidRequest
from corral.types.common import INT32_MAX

MAX_PAGE = 1000
DEFAULT_PAGE = 100


def format_time(moment: datetime) -> str:
    """RFC 3339 in UTC with microseconds and a `Z`, the one time format on the wire."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """A time written by `format_time`, back as the same (tz-aware) moment."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def resume_after(*, last_event_id: str | None, after: int | None, field: str = "after") -> int:
    """The cursor to replay from: `Last-Event-ID` wins over the `after` parameter."""
    if last_event_id is not None and last_event_id.strip():
        try:
            value = int(last_event_id.strip())
        except ValueError:
            raise InvalidRequest(
                "Last-Event-ID must be an event seq (an integer)", field="Last-Event-ID"
            ) from None
        if not 0 <= value <= INT32_MAX:
            raise InvalidRequest(
                f"Last-Event-ID must be between 0 and {INT32_MAX}", field="Last-Event-ID"
            )
        return value
    return after or 0
