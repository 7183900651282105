"""Context compaction: when a conversation must shrink to fit its model, and what is sent then.

A run's conversation grows with every turn, and a session's with every message, while a model's
context window does not. Before a model call whose request would fill most of the window, the
oldest messages are replaced by a summary the model itself writes, and the most recent ones are
kept verbatim. The originals are never dropped (the checkpoint and the session keep them all):
`ContextState` says how many leading messages the summary stands in for, and `ContextState.view`
builds what the model is sent from it, so the session's history stays whole.

The kept messages always begin where every provider accepts a conversation to resume: at a user
message or at an assistant message, never at tool results, whose calls would have been
summarized away. The summary travels as a user message before them (the adapters merge it with
a following user message where roles must alternate).

Pure rules and arithmetic, no I/O; `corral.runtime.compaction` makes the model calls.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import orjson

from corral.domain.budgets import CHARS_PER_TOKEN
from corral.domain.conversation import Message, Text, ToolCall, ToolResult

__all__ = [
    "COMPACT_AT",
    "EARLIER_TAG",
    "KEEP_SHARE",
    "SUMMARY_HEADER",
    "SUMMARY_INSTRUCTIONS",
    "TRANSCRIPT_TAG",
    "Chunk",
    "ContextState",
    "Summary",
    "Window",
    "choose_cut",
    "chunks",
    "clip",
    "message_tokens",
    "render",
    "summary_prompt",
    "text_tokens",
]

COMPACT_AT = 0.8
"""Share of the usable window (context window minus the output allowance) that the next request
may fill; past it the conversation is compacted before the call."""

KEEP_SHARE = 0.3
"""Share of the usable window the most recent messages, kept verbatim, may fill after a
compaction: the rest of the room lets the conversation grow a while before the next one."""

SUMMARY_SHARE = 0.1
"""Share of the usable window a summary may take, up to `SUMMARY_MAX_TOKENS`."""

SUMMARY_MAX_TOKENS = 4_096

DEFAULT_OUTPUT_ALLOWANCE = 8_192
"""Tokens kept free for the answer when the run sets no output limit (at most a quarter of the
window)."""

EARLIER_TAG = "earlier-summary"
TRANSCRIPT_TAG = "transcript"

SUMMARY_INSTRUCTIONS = (
    "You compact a conversation so that it can go on within a limited context window. Write a "
    "summary of the transcript below that keeps everything needed to carry on: the user's goals "
    "and requests, decisions and conclusions, facts, names, numbers, file paths and identifiers, "
    "the tool calls that mattered and what they returned, and what is still open. If an earlier "
    "summary is given, fold it in: yours replaces it. Write compact notes in the conversation's "
    "language, and answer with the summary only."
)
"""The instructions of a summarization call (the test model recognises them)."""

SUMMARY_HEADER = (
    "[Summary of the earlier part of this conversation, which grew too long for the context "
    "window; the messages after this one follow it verbatim.]"
)


@dataclass(frozen=True, slots=True)
class Summary:
    """A summary standing in for the first `covers` messages of a conversation."""

    text: str
    covers: int

    def message(self) -> Message:
        """The summary as the model is sent it, in place of the messages it covers."""
        return Message("user", f"{SUMMARY_HEADER}\n\n{self.text}")


@dataclass(frozen=True, slots=True)
class ContextState:
    """What the model sees of a long conversation; kept in the run's checkpoint.

    `measured_tokens` is what the provider reported for the last call (input and output), which
    counted the first `measured_messages` messages (its answer included): a better base for the
    next estimate than sizes alone. A new summary voids it.
    """

    summary: Summary | None = None
    measured_tokens: int = 0
    measured_messages: int = 0

    @property
    def summarized(self) -> int:
        """How many leading messages the summary stands in for."""
        return self.summary.covers if self.summary is not None else 0

    def view(self, messages: list[Message]) -> list[Message]:
        """The conversation as the model is sent it: the summary, then the messages after it."""
        if self.summary is None:
            return messages
        return [self.summary.message(), *messages[self.summary.covers :]]

    def measured(self, tokens: int, messages: int) -> ContextState:
        """This state with a provider's count of the request just made."""
        return replace(self, measured_tokens=tokens, measured_messages=messages)

    def request_tokens(self, fixed_tokens: int, messages: list[Message]) -> int:
        """Roughly how many input tokens the next request takes.

        `fixed_tokens` is what the instructions and tool schemas take, counted by size; a
        measured call already counted them.
        """
        start = self.measured_messages
        if self.measured_tokens and self.summarized <= start <= len(messages):
            return self.measured_tokens + sum(map(message_tokens, messages[start:]))
        return fixed_tokens + sum(map(message_tokens, self.view(messages)))

    def to_json(self) -> dict[str, Any]:
        """The state as the checkpoint stores it."""
        stored: dict[str, Any] = {}
        if self.summary is not None:
            stored |= {"summary": self.summary.text, "summarized": self.summary.covers}
        if self.measured_tokens:
            stored |= {"measured_tokens": self.measured_tokens}
            stored |= {"measured_messages": self.measured_messages}
        return stored

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ContextState:
        """A stored state (an empty mapping: nothing summarized or measured yet)."""
        covers = int(data.get("summarized", 0))
        summary = Summary(str(data.get("summary", "")), covers) if covers else None
        return cls(
            summary=summary,
            measured_tokens=int(data.get("measured_tokens", 0)),
            measured_messages=int(data.get("measured_messages", 0)),
        )


@dataclass(frozen=True, slots=True)
class Window:
    """The room of one model call, in tokens."""

    context_window: int
    output_allowance: int

    @classmethod
    def of(cls, context_window: int, max_output_tokens: int | None, thinking: int = 0) -> Window:
        """The window of a model whose call may generate `max_output_tokens` (None: no limit)."""
        wanted = max_output_tokens if max_output_tokens is not None else DEFAULT_OUTPUT_ALLOWANCE
        return cls(context_window, min(wanted + thinking, context_window // 4))

    @property
    def usable(self) -> int:
        """What the request itself may take."""
        return max(self.context_window - self.output_allowance, 1)

    @property
    def threshold(self) -> int:
        """The estimate past which the request is compacted first."""
        return int(self.usable * COMPACT_AT)

    @property
    def summary_tokens(self) -> int:
        """How long a summary may grow."""
        return max(min(int(self.usable * SUMMARY_SHARE), SUMMARY_MAX_TOKENS), 16)

    def keep_tokens(self, fixed_tokens: int) -> int:
        """How much of the latest conversation a compaction keeps verbatim.

        Instructions and tools that take most of the window leave little: then only the last
        exchange stays.
        """
        room = self.threshold - fixed_tokens - self.summary_tokens
        return max(min(int(self.usable * KEEP_SHARE), room), 0)

    def transcript_bytes(self) -> int:
        """How much transcript one summarization call may be given (with an earlier summary)."""
        request = int((self.context_window - 2 * self.summary_tokens) * COMPACT_AT)
        room = request - text_tokens(SUMMARY_INSTRUCTIONS) - self.summary_tokens - 64
        return max(room, 64) * CHARS_PER_TOKEN


def text_tokens(text: str) -> int:
    """Rough token count of a text: its UTF-8 size over `CHARS_PER_TOKEN`.

    Bytes rather than characters, so that scripts of several bytes a character (which also
    take more tokens) are not counted as cheap as English.
    """
    return math.ceil(len(text.encode()) / CHARS_PER_TOKEN)


def message_tokens(message: Message) -> int:
    """Rough token count of a message: its stored JSON's size (structure counts too)."""
    return math.ceil(len(orjson.dumps(message.to_json())) / CHARS_PER_TOKEN)


def choose_cut(messages: Sequence[Message], start: int, keep_tokens: int) -> int | None:
    """Where the kept messages begin after a compaction, or None when nothing can be folded.

    The earliest boundary after `start` whose messages from there on fit `keep_tokens`, else
    the last boundary (the latest exchange is always kept). A boundary is a user or assistant
    message: an assistant message with tool calls stays with its results, and kept results
    never lose their calls.
    """
    cut: int | None = None
    kept = 0
    for index in range(len(messages) - 1, start, -1):
        message = messages[index]
        kept += message_tokens(message)
        if message.role == "tool":
            continue
        if cut is not None and kept > keep_tokens:
            break
        cut = index
    return cut


def clip(text: str, limit: int) -> str:
    """`text`, or its head and tail around a marker when longer than `limit` characters."""
    if len(text) <= limit:
        return text
    keep = max(limit // 2 - 40, 0)
    omitted = len(text) - 2 * keep
    return f"{text[:keep]}\n[... {omitted} characters left out ...]\n{text[len(text) - keep :]}"


def render(message: Message, limit: int) -> str:
    """One message as a transcript entry: a `[role]` line, then its content (thinking left out)."""
    lines: list[str] = []
    for block in message.blocks():
        match block:
            case Text(text=text) if text:
                lines.append(text)
            case ToolCall(name=name, input=arguments):
                lines.append(f"(calls {name} with {orjson.dumps(arguments).decode()})")
            case ToolResult(name=name, output=output, is_error=is_error):
                lines.append(f"({name} {'failed' if is_error else 'returned'}) {output}")
    body = clip("\n".join(lines), limit)
    return f"[{message.role}]\n{body}"


@dataclass(frozen=True, slots=True)
class Chunk:
    """A piece of transcript one summarization call folds in, with the messages it renders."""

    text: str
    messages: tuple[Message, ...]
    max_bytes: int
    """The size it was cut to (a provider that refuses it gets it in smaller pieces)."""


def chunks(messages: Sequence[Message], max_bytes: int) -> list[Chunk]:
    """The transcript of `messages` in pieces of at most about `max_bytes` (UTF-8).

    A message longer than half of that is clipped, so that every piece holds at least one.
    """
    pieces: list[Chunk] = []
    entries: list[str] = []
    start = size = 0
    for index, message in enumerate(messages):
        entry = render(message, max_bytes // 2)
        length = len(entry.encode())
        if entries and size + length > max_bytes:
            pieces.append(Chunk("\n\n".join(entries), tuple(messages[start:index]), max_bytes))
            entries, start, size = [], index, 0
        entries.append(entry)
        size += length + 2
    if entries:
        pieces.append(Chunk("\n\n".join(entries), tuple(messages[start:]), max_bytes))
    return pieces


def summary_prompt(earlier: str, transcript: str, max_tokens: int) -> str:
    """The user message of a summarization call: the earlier summary, if any, and what to add."""
    parts = [f"<{EARLIER_TAG}>\n{earlier}\n</{EARLIER_TAG}>"] if earlier else []
    parts.append(f"<{TRANSCRIPT_TAG}>\n{transcript}\n</{TRANSCRIPT_TAG}>")
    parts.append(f"Write the summary in at most about {max(max_tokens * 3 // 4, 10)} words.")
    return "\n\n".join(parts)
