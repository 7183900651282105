"""Session events: sending the caller's, listing the log, following it live.

The log is Corral's session log translated (`translate.events`); each read starts at the first
event of a run, so every event id the translation refers to is one it has made itself.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from corral.compat.anthropic.translate.events import (
    PREVIEW_TYPES,
    WAITING_TYPES,
    EventTranslator,
)
from corral.compat.anthropic.translate.numbering import Translated, cursor_of
from corral.compat.anthropic.wire.events import (
    DocumentContent,
    ImageContent,
    SearchResultContent,
    SentEvents,
    TextContent,
    UserCustomToolResult,
    UserInterrupt,
    UserMessage,
    UserToolConfirmation,
)
from corral.context import ServiceContext
from corral.errors import InvalidRequest, NotFound
from corral.services import approvals, tool_results
from corral.services import events as event_service
from corral.services import runs as run_service
from corral.services import sessions as session_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.storage.events import SessionEvent
from corral.types.permissions import ApprovalDecisionParams
from corral.types.tools import ToolResultParams

READ_PAGE = 500
"""Stored events read at once."""

INTERRUPTED = "interrupted by the user (user.interrupt)"


def _text(blocks: Sequence[Any], field: str) -> str:
    """Content blocks as the text a Corral run takes."""
    parts = []
    for index, block in enumerate(blocks):
        if isinstance(block, TextContent):
            parts.append(block.text)
        elif isinstance(block, DocumentContent) and block.source.get("type") == "text":
            title = f"{block.title}\n\n" if block.title else ""
            parts.append(f"{title}{block.source.get('data', '')}")
        elif isinstance(block, SearchResultContent):
            parts.append(orjson.dumps(block.model_dump()).decode())
        else:
            kind = "images" if isinstance(block, ImageContent) else "documents other than text"
            raise InvalidRequest(
                f"this server's runs read text: {kind} are not supported",
                field=f"{field}/{index}",
            )
    return "\n\n".join(parts)


def _receipt(kind: str, **fields: Any) -> dict[str, Any]:
    """The answer for a sent event: its stored copy, with its own id, comes with the log."""
    return {"id": f"sevt_receipt_{uuid.uuid4().hex}", "type": kind, "processed_at": None, **fields}


async def _call_of(
    ctx: ServiceContext, principal: Principal, session_id: str, shown_id: str, field: str
) -> tuple[str, str]:
    """The run and call an event id (of a call the log showed) stands for."""
    cursor = cursor_of(shown_id)
    stored = []
    if cursor is not None and cursor > 0:
        stored = await event_service.session_page(
            ctx, principal, session_id, after=cursor - 1, limit=1
        )
    if not stored or stored[0].session_seq != cursor:
        raise NotFound(f"no event {shown_id!r} in session {session_id!r}", field=field)
    data = orjson.loads(stored[0].data)
    if "call_id" not in data:
        raise NotFound(f"event {shown_id!r} is not a tool call", field=field)
    return data["run_id"], data["call_id"]


async def _interrupt(ctx: ServiceContext, principal: Principal, session_id: str) -> None:
    _, run_id = await event_service.live_start(ctx, principal, session_id)
    if run_id is not None:
        await run_service.cancel(ctx, principal, run_id, reason=INTERRUPTED)


async def send(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    events: Sequence[Any],
    *,
    field: str = "/events",
    actor: Actor | None = None,
) -> SentEvents:
    """Act on each event in order: queue a turn, interrupt, decide, answer."""
    await session_service.find(ctx, principal, session_id)
    receipts = []
    for index, event in enumerate(events):
        at = f"{field}/{index}"
        if isinstance(event, UserMessage):
            text = _text(event.content, f"{at}/content")
            await session_service.send(
                ctx,
                principal,
                session_id,
                run_input=text or " ",
                tools=[],
                metadata={},
                idempotency_key=None,
            )
            receipts.append(_receipt("user.message", content=[{"type": "text", "text": text}]))
        elif isinstance(event, UserInterrupt):
            await _interrupt(ctx, principal, session_id)
            receipts.append(_receipt("user.interrupt"))
        elif isinstance(event, UserToolConfirmation):
            run_id, call_id = await _call_of(
                ctx, principal, session_id, event.tool_use_id, f"{at}/tool_use_id"
            )
            decision = ApprovalDecisionParams.model_validate(
                {"decision": event.result, "message": event.deny_message}
            )
            await approvals.decide(ctx, actor or Actor(principal), run_id, call_id, decision)
            receipts.append(
                _receipt(
                    "user.tool_confirmation",
                    tool_use_id=event.tool_use_id,
                    result=event.result,
                    deny_message=event.deny_message,
                )
            )
        elif isinstance(event, UserCustomToolResult):
            run_id, call_id = await _call_of(
                ctx, principal, session_id, event.custom_tool_use_id, f"{at}/custom_tool_use_id"
            )
            text = _text(event.content or [], f"{at}/content")
            answer = (
                ToolResultParams(call_id=call_id, error=text or "error")
                if event.is_error
                else ToolResultParams(call_id=call_id, output=text)
            )
            await tool_results.submit(ctx, principal, run_id, answer)
            receipts.append(
                _receipt(
                    "user.custom_tool_result",
                    custom_tool_use_id=event.custom_tool_use_id,
                    content=[{"type": "text", "text": text}],
                    is_error=bool(event.is_error),
                )
            )
        else:
            raise InvalidRequest(
                f"{event.type} events are not available on this server (docs/anthropic.md)",
                field=f"{at}/type",
            )
    return SentEvents(data=receipts)


class _Reader:
    """Translates stored session events, fetching what the translation needs as it goes."""

    def __init__(self, ctx: ServiceContext, principal: Principal, session: Any) -> None:
        self.ctx = ctx
        self.principal = principal
        servers = {
            ref["name"] for ref in session["spec"].get("tools") or [] if ref.get("type") == "mcp"
        }
        self.inputs: dict[str, Any] = {}
        self.translator = EventTranslator(self.inputs, frozenset(servers))

    async def feed(
        self, batch: Sequence[SessionEvent], *, whole: bool
    ) -> list[tuple[int, Translated]]:
        """Each translated event with the cursor of the stored event whose reading made it."""
        documents = [(e.session_seq, orjson.loads(e.data)) for e in batch]
        for _, data in documents:
            if data["type"] == "run.started" and data["run_id"] not in self.inputs:
                record = await run_service.find(self.ctx, self.principal, data["run_id"])
                self.inputs[data["run_id"]] = record.input
        out: list[tuple[int, Translated]] = []
        for cursor, data in documents:
            out += [(cursor, t) for t in self.translator.feed(cursor, data)]
        if whole and documents and documents[-1][1]["type"] in WAITING_TYPES:
            out += [(documents[-1][0], t) for t in self.translator.flush()]
        return out


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
    if order == "desc":
        return await _list_desc(ctx, principal, session, limit=limit, page=page, types=types)
    after = _page_cursor(page)
    reader = _Reader(ctx, principal, session)
    position = await event_service.run_start(ctx, session_id, after) if after else 0
    found: list[dict[str, Any]] = []
    while True:
        batch = await event_service.session_page(
            ctx, principal, session_id, after=position, limit=READ_PAGE
        )
        if not batch:
            return found, None
        whole = len(batch) < READ_PAGE
        fed = await reader.feed(batch, whole=whole)
        for index, (cursor, item) in enumerate(fed):
            if cursor > after and not item.preview and (not types or item.event["type"] in types):
                found.append(item.event)
            last_of_cursor = index + 1 == len(fed) or fed[index + 1][0] != cursor
            if len(found) >= limit and last_of_cursor and cursor > after:
                more = index + 1 < len(fed) or not whole
                return found, str(cursor) if more else None
        position = batch[-1].session_seq
        if whole:
            return found, None


async def _list_desc(
    ctx: ServiceContext,
    principal: Principal,
    session: Any,
    *,
    limit: int,
    page: str | None,
    types: set[str],
) -> tuple[list[dict[str, Any]], str | None]:
    every: list[dict[str, Any]] = []
    reader = _Reader(ctx, principal, session)
    position = 0
    while True:
        batch = await event_service.session_page(
            ctx, principal, session["id"], after=position, limit=READ_PAGE
        )
        if not batch:
            break
        whole = len(batch) < READ_PAGE
        every += [
            t.event
            for _, t in await reader.feed(batch, whole=whole)
            if not t.preview and (not types or t.event["type"] in types)
        ]
        position = batch[-1].session_seq
        if whole:
            break
    every.reverse()
    start = _page_cursor(page)
    chosen = every[start : start + limit]
    return chosen, str(start + limit) if start + limit < len(every) else None


def _page_cursor(page: str | None) -> int:
    if page is None:
        return 0
    if not page.isdigit():
        raise InvalidRequest(f"page {page!r} is not a cursor this server gave", field="page")
    return int(page)


async def follow(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    *,
    previews: set[str],
    last_event_id: str | None,
) -> AsyncIterator[list[dict[str, Any]] | None]:
    """The session's events live: after `last_event_id`, else from the turn in flight."""
    for kind in previews:
        if kind not in PREVIEW_TYPES:
            raise InvalidRequest(
                f"event_deltas takes {sorted(PREVIEW_TYPES)}, not {kind!r}", field="event_deltas"
            )
    session = await session_service.find(ctx, principal, session_id)
    resume = cursor_of(last_event_id) if last_event_id else None
    if last_event_id and resume is None:
        raise InvalidRequest(
            f"{last_event_id!r} is not an event id of this server", field="Last-Event-ID"
        )
    if resume is not None:
        start = await event_service.run_start(ctx, session_id, resume)
    else:
        start, _ = await event_service.live_start(ctx, principal, session_id)
    batches = await event_service.follow_session(ctx, principal, session_id, after=start)
    shown = _StreamFilter(previews, resume, last_event_id)
    return _translated(_Reader(ctx, principal, session), batches, shown)


class _StreamFilter:
    """Which translated events a stream sends: past the resume point, previews it asked for."""

    def __init__(self, previews: set[str], resume: int | None, last_event_id: str | None) -> None:
        self.previews = previews
        self.preview_ids: set[str] = set()
        self.resume = resume
        self.last_event_id = last_event_id
        self.passed = resume is None

    def shows(self, cursor: int, item: Translated) -> bool:
        """Whether to send the event made while reading the stored event at `cursor`."""
        event = item.event
        if not self.passed:
            # Resuming: what was made up to the event the caller saw has been sent.
            seen = event.get("id") == self.last_event_id
            if seen or (self.resume is not None and cursor > self.resume):
                self.passed = True
            if not self.passed or seen:
                return False
        if not item.preview:
            return True
        if event["type"] == "event_start":
            if event["event"]["type"] not in self.previews:
                return False
            self.preview_ids.add(event["event"]["id"])
            return True
        return event.get("event_id") in self.preview_ids


async def _translated(
    reader: _Reader,
    batches: AsyncIterator[list[SessionEvent] | None],
    shown: _StreamFilter,
) -> AsyncIterator[list[dict[str, Any]] | None]:
    async with contextlib.aclosing(batches):  # type: ignore[type-var]
        async for batch in batches:
            if batch is None:
                yield None
                continue
            fed = await reader.feed(batch, whole=len(batch) < READ_PAGE)
            events = [item.event for cursor, item in fed if shown.shows(cursor, item)]
            if events:
                yield events
