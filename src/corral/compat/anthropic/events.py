"""Session events: sending the caller's and following the log live (`listing` pages it).

The log is Corral's session log translated (`translate.events`); each read starts at the first
event of a run, so every event id the translation refers to is one it has made itself.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

import orjson

from corral.compat.anthropic.listing import pairs, terminated
from corral.compat.anthropic.reading import RECENT_INPUTS, Reader, StreamFilter, translated
from corral.compat.anthropic.translate.events import PREVIEW_TYPES
from corral.compat.anthropic.translate.numbering import cursor_of, event_id
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
from corral.domain.event_log import format_time
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

INTERRUPTED = "interrupted by the user (user.interrupt)"

DELETED_INDEX = 97
"""The number of the `session.deleted` that ends a stream among the last event's it sent."""


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
    """Act on each event in order: queue a turn, interrupt, decide, answer.

    Each event's own service call finds the session (404 for another workspace's).
    """
    receipts = []
    for index, event in enumerate(events):
        at = f"{field}/{index}"
        if isinstance(event, UserMessage):
            text = _text(event.content, f"{at}/content")
            run, _ = await session_service.send(
                ctx,
                principal,
                session_id,
                run_input=text or " ",
                tools=[],
                metadata={},
                idempotency_key=None,
            )
            RECENT_INPUTS.remember(run.id, run.input)
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
    shown = StreamFilter(previews, resume, last_event_id)
    pairs = _session_pairs(batches)
    events = translated(Reader(ctx, principal, session["spec"]), pairs, shown)
    return _then_terminated(ctx, principal, session_id, events, start)


async def _then_terminated(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    events: AsyncIterator[list[dict[str, Any]] | None],
    cursor: int,
) -> AsyncIterator[list[dict[str, Any]] | None]:
    """The stream's events, then `session.status_terminated` once the session has ended.

    A session deleted under the stream ends it with `session.deleted` instead.
    """
    async with contextlib.aclosing(events):  # type: ignore[type-var]
        async for batch in events:
            for event in batch or ():
                cursor = cursor_of(event.get("id", "")) or cursor
            yield batch
    try:
        session = await session_service.find(ctx, principal, session_id)
    except NotFound:
        processed_at = format_time(ctx.clock())
        deleted = {"type": "session.deleted", "processed_at": processed_at}
        yield [{"id": event_id(cursor, DELETED_INDEX), **deleted}]
        return
    end = terminated(session)
    if end is not None:
        yield [end]


async def _session_pairs(
    batches: AsyncIterator[list[SessionEvent] | None],
) -> AsyncIterator[list[tuple[int, str]] | None]:
    async with contextlib.aclosing(batches):  # type: ignore[type-var]
        async for batch in batches:
            yield None if batch is None else pairs(batch)
