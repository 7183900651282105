"""Pages of a session's events, oldest or newest first.

A page ends between two stored events, never inside the events one of them made, and its
cursor is that stored event's session cursor: the next page holds the events after it (oldest
first) or before it (newest first). Either way the log is translated a whole run at a time, from
the run's first event, so a page of the newest events reads the last runs only.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from corral.compat.anthropic.reading import READ_PAGE, Reader
from corral.compat.anthropic.translate.numbering import Translated, event_id
from corral.context import ServiceContext
from corral.errors import InvalidRequest
from corral.services import events as event_service
from corral.services import sessions as session_service
from corral.services.context import Principal
from corral.storage.events import SessionEvent

TERMINATED_INDEX = 98
"""The number of the closing `session.status_terminated` among the last stored event's."""

FIRST_READ = 32
"""Stored events read at first; each further read takes twice as many, up to `READ_PAGE`: a
short page of a long log, the usual ask, reads little of it."""

Item = tuple[int, dict[str, Any]]
"""An event of the API and the session cursor of the stored event that made it."""


async def list_events(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    *,
    limit: int,
    page: str | None,
    order: str,
    types: set[str],
) -> tuple[list[dict[str, Any]], str | None]:
    """A page of the session's events, oldest first (or newest first with `order=desc`)."""
    session = await session_service.find(ctx, principal, session_id)
    cursor = _page_cursor(page)
    if order == "desc":
        items = _newest_first(ctx, principal, session, cursor, types)
    else:
        items = _oldest_first(ctx, principal, session, cursor or 0, types)
    found: list[dict[str, Any]] = []
    last = 0
    async for at, event in items:
        if len(found) >= limit and at != last:
            return found, str(last)
        found.append(event)
        last = at
    return found, None


def terminated(session: Any) -> dict[str, Any] | None:
    """The `session.status_terminated` that closes the log of an ended session."""
    ended_at = session["ended_at"]
    if ended_at is None:
        return None
    return {
        "id": event_id(int(session["last_seq"]), TERMINATED_INDEX),
        "type": "session.status_terminated",
        "processed_at": ended_at.isoformat().replace("+00:00", "Z"),
    }


def pairs(batch: Sequence[SessionEvent]) -> list[tuple[int, str]]:
    """Stored events as a `Reader` takes them: (session cursor, JSON document)."""
    return [(e.session_seq, e.data) for e in batch]


def _shown(item: Translated, types: set[str]) -> bool:
    return not item.preview and (not types or item.event["type"] in types)


def _ending(session: Any, types: set[str]) -> list[Item]:
    end = terminated(session)
    if end is None or (types and end["type"] not in types):
        return []
    return [(int(session["last_seq"]), end)]


async def _oldest_first(
    ctx: ServiceContext, principal: Principal, session: Any, after: int, types: set[str]
) -> AsyncIterator[Item]:
    reader = Reader(ctx, principal, session["spec"])
    position = await event_service.run_start(ctx, session["id"], after) if after else 0
    size = FIRST_READ
    while True:
        batch = await event_service.session_page(
            ctx, principal, session["id"], after=position, limit=size
        )
        whole = len(batch) < size
        for cursor, item in await reader.feed(pairs(batch), whole=whole):
            if cursor > after and _shown(item, types):
                yield cursor, item.event
        if whole:
            break
        position = batch[-1].session_seq
        size = min(2 * size, READ_PAGE)
    for cursor, end in _ending(session, types):
        if cursor > after:
            yield cursor, end


async def _newest_first(
    ctx: ServiceContext, principal: Principal, session: Any, before: int | None, types: set[str]
) -> AsyncIterator[Item]:
    last_seq = int(session["last_seq"])
    upper = last_seq if before is None else min(before - 1, last_seq)
    for cursor, end in _ending(session, types):
        if cursor <= upper:
            yield cursor, end
    while upper > 0:
        start = await event_service.run_start(ctx, session["id"], upper)
        if start >= upper:
            break  # nothing is logged at or before `upper`
        run = await _run_from(ctx, principal, session, start)
        for cursor, item in reversed(run):
            if cursor <= upper and _shown(item, types):
                yield cursor, item.event
        upper = start


async def _run_from(
    ctx: ServiceContext, principal: Principal, session: Any, start: int
) -> list[tuple[int, Translated]]:
    """The translation of the run whose first event follows the session cursor `start`."""
    reader = Reader(ctx, principal, session["spec"])
    run_id: str | None = None
    translated: list[tuple[int, Translated]] = []
    size = FIRST_READ
    while True:
        batch = await event_service.session_page(
            ctx, principal, session["id"], after=start, limit=size
        )
        run_id = run_id or (_run_of(batch[0]) if batch else None)
        mine = list(itertools.takewhile(functools.partial(_logged_by, run_id), batch))
        whole = len(mine) < size
        translated += await reader.feed(pairs(mine), whole=whole)
        if whole:
            return translated
        start = mine[-1].session_seq
        size = min(2 * size, READ_PAGE)


def _run_of(event: SessionEvent) -> str:
    return str(orjson.loads(event.data)["run_id"])


def _logged_by(run_id: str | None, event: SessionEvent) -> bool:
    return _run_of(event) == run_id


def _page_cursor(page: str | None) -> int | None:
    if page is None:
        return None
    if not page.isdigit():
        raise InvalidRequest(f"page {page!r} is not a cursor this server gave", field="page")
    return int(page)
