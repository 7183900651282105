"""The run state machine and the rules for what a new run is made of."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from corral.domain import events
from corral.errors import InvalidRequest, RunTerminal
from corral.types.runs import TERMINAL_STATUSES, RunStatus

_ALLOWED: dict[RunStatus, frozenset[RunStatus]] = {
    RunStatus.QUEUED: frozenset({RunStatus.RUNNING, RunStatus.CANCELLED, RunStatus.TIMED_OUT}),
    RunStatus.RUNNING: frozenset(
        {RunStatus.WAITING, *TERMINAL_STATUSES},
    ),
    RunStatus.WAITING: frozenset({RunStatus.RUNNING, *TERMINAL_STATUSES}),
}

TERMINAL_EVENT = {
    RunStatus.COMPLETED: events.RunCompleted.type,
    RunStatus.FAILED: events.RunFailed.type,
    RunStatus.CANCELLED: events.RunCancelled.type,
    RunStatus.TIMED_OUT: events.RunTimedOut.type,
}
"""The event type that ends a run with each terminal status (`end` builds the event itself)."""


def can_transition(current: RunStatus | str, target: RunStatus | str) -> bool:
    """Whether a run in `current` may move to `target`."""
    return RunStatus(target) in _ALLOWED.get(RunStatus(current), frozenset())


@dataclass(frozen=True)
class Ending:
    """What ending a run writes, in one transaction: its new column values and terminal event."""

    values: dict[str, Any]
    event: events.EventPayload


def end(
    current: RunStatus | str,
    target: RunStatus,
    *,
    now: datetime,
    output: str | None = None,
    error: events.Failure | None = None,
    reason: str = "",
) -> Ending:
    """End a run in `current` as `target`, checked by the state machine.

    `output` completes it, `error` fails or times it out, `reason` says why it was cancelled.
    The lease and the checkpoint go with the end: nobody resumes an ended run.
    """
    if target not in TERMINAL_STATUSES or not can_transition(current, target):
        raise RunTerminal(f"a {RunStatus(current).value} run cannot end {target.value}")
    values: dict[str, Any] = {
        "status": target.value,
        "ended_at": now,
        "lease_owner": None,
        "lease_expires_at": None,
        "checkpoint": None,
    }
    if target is RunStatus.CANCELLED:
        return Ending(values, events.RunCancelled(reason=reason))
    values["output"] = output
    if target is RunStatus.COMPLETED:
        values["error"] = None
        return Ending(values, events.RunCompleted(output=output or ""))
    failure = error or _NO_REASON
    values["error"] = asdict(failure)
    if target is RunStatus.TIMED_OUT:
        return Ending(values, events.RunTimedOut(error=failure))
    return Ending(values, events.RunFailed(error=failure))


_NO_REASON = events.Failure(code="internal_error", message="the run ended without a reason")


def merge_metadata(*layers: dict[str, str]) -> dict[str, str]:
    """Later layers win: agent, then session, then the run or message itself."""
    merged: dict[str, str] = {}
    for layer in layers:
        merged.update(layer)
    return merged


def fingerprint(request: dict[str, Any]) -> str:
    """A stable hash of a request body, to recognise an idempotent retry."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


def creation_range(
    created_after: datetime | None, created_before: datetime | None
) -> tuple[datetime | None, datetime | None]:
    """The bounds of a listing by creation time, in UTC: `created_after` in, `created_before` out.

    A time without a zone is UTC, as the API says. An empty range is refused rather than
    answered with nothing, since it can only be a caller's mistake (swapped bounds, most often).
    """
    after = _utc(created_after, "created_after")
    before = _utc(created_before, "created_before")
    if after is not None and before is not None and before <= after:
        raise InvalidRequest(
            "created_before must be later than created_after", field="created_before"
        )
    return after, before


def _utc(moment: datetime | None, field: str) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC)
    except OverflowError:
        raise InvalidRequest(f"{field} is out of range", field=field) from None
