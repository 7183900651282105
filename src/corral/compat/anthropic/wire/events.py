"""Session events: what callers send, and what the log and the stream show.

Every event shown has an `id` (`sevt_{cursor}_{n}`: the Corral session cursor of the event it
comes from, and its place among those it became), a `type` and `processed_at`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Field

from corral.compat.anthropic.wire.common import CursorPage, Params, Wire


class TextContent(Params):
    """Text, in a message or a tool result."""

    type: Literal["text"]
    text: Annotated[str, Field(max_length=1_000_000)]


class DocumentContent(Params):
    """A document; Corral's runs read plain-text ones."""

    type: Literal["document"]
    source: dict[str, Any]
    title: str | None = None
    context: str | None = None


class ImageContent(Params):
    """An image; refused with a clear error, since Corral's runs take text."""

    type: Literal["image"]
    source: dict[str, Any]


class SearchResultContent(Params):
    """A search result block, read as its text."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    type: Literal["search_result"]


InputBlock = Annotated[
    TextContent | DocumentContent | ImageContent | SearchResultContent,
    Field(discriminator="type"),
]


class UserMessage(Params):
    """A turn of the user: Corral queues it as the session's next run."""

    type: Literal["user.message"]
    content: Annotated[list[InputBlock], Field(min_length=1, max_length=100)]


class UserInterrupt(Params):
    """Stop what the agent is doing: Corral cancels the session's run in flight."""

    type: Literal["user.interrupt"]
    session_thread_id: str | None = None


class UserToolConfirmation(Params):
    """A person's decision on a held call (`always_ask`)."""

    type: Literal["user.tool_confirmation"]
    tool_use_id: Annotated[str, Field(min_length=1, max_length=200)]
    result: Literal["allow", "deny"]
    deny_message: Annotated[str, Field(max_length=10_000)] | None = None
    session_thread_id: str | None = None


class UserCustomToolResult(Params):
    """The caller's result of a custom tool call."""

    type: Literal["user.custom_tool_result"]
    custom_tool_use_id: Annotated[str, Field(min_length=1, max_length=200)]
    content: Annotated[list[InputBlock], Field(max_length=100)] | None = None
    is_error: bool | None = None
    session_thread_id: str | None = None


class UnmappedEvent(Params):
    """Events of the API Corral does not take (`docs/anthropic.md` says why)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    type: Literal["user.define_outcome", "user.tool_result", "system.message"]


SentEvent = Annotated[
    UserMessage | UserInterrupt | UserToolConfirmation | UserCustomToolResult | UnmappedEvent,
    Field(discriminator="type"),
]


class SendEvents(Params):
    """Body of `POST /v1/sessions/{id}/events`."""

    events: Annotated[list[SentEvent], Field(min_length=1, max_length=50)]


class SentEvents(Wire):
    """The events as received: `processed_at` is null until the session gets to them."""

    data: list[dict[str, Any]]


class EventObject(Wire):
    """Any event of a session's log (its other fields depend on `type`)."""

    model_config = ConfigDict(extra="allow", use_attribute_docstrings=True)
    id: str
    type: str
    processed_at: datetime | None = None


class ManagedEventPage(CursorPage[EventObject]):
    """A page of events."""
