"""Folds a provider's stream into Corral delta events and the finished assistant turn.

Pure and synchronous: the loop feeds it provider events and emits what it returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

import orjson

from corral.domain.budgets import estimate_tokens
from corral.domain.conversation import Message, Text, Thinking, ToolCall
from corral.providers.base import (
    ProviderEvent,
    Stop,
    TextDelta,
    ThinkingDelta,
    ToolCallDelta,
    ToolCallStart,
    UsageUpdate,
)


@dataclass
class _OpenCall:
    name: str
    provider_call_id: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    """One finished model call."""

    text: str
    thinking: list[Thinking]
    tool_calls: list[ToolCall]
    usage: UsageUpdate
    stop_reason: str
    argument_errors: Mapping[str, str] = field(default_factory=dict)
    """Call id → why the call's arguments were not a JSON object (it is answered with that)."""

    @property
    def input_tokens(self) -> int:
        """Every input token of the call."""
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        """Every generated token of the call."""
        return self.usage.output_tokens

    def assistant_message(self) -> Message:
        """The turn as a conversation message."""
        text: tuple[Text, ...] = (Text(self.text),) if self.text else ()
        return Message("assistant", (*self.thinking, *text, *self.tool_calls))


class TurnAccumulator:
    """Collects one model call's stream."""

    def __init__(self, new_call_id: Callable[[], str]) -> None:
        self._new_call_id = new_call_id
        self._text: list[str] = []
        self._thinking: list[Thinking] = []
        self._thinking_text: list[str] = []
        self._calls: dict[int, _OpenCall] = {}
        self._usage = UsageUpdate(0, 0)
        self._stop_reason = "end_turn"

    def feed(self, event: ProviderEvent) -> tuple[str, str] | None:
        """Take one provider event; returns a `(event type, text)` delta to emit, if any."""
        if isinstance(event, TextDelta):
            if not event.text:
                return None
            self._text.append(event.text)
            return ("message.delta", event.text)
        if isinstance(event, ThinkingDelta):
            if event.text:
                self._thinking_text.append(event.text)
            if event.signature is not None or event.id is not None:
                self._close_thinking(event.signature, event.id)
            return ("thinking.delta", event.text) if event.text else None
        if isinstance(event, ToolCallStart):
            self._calls[event.index] = _OpenCall(event.name, event.call_id)
        elif isinstance(event, ToolCallDelta):
            self._calls.setdefault(event.index, _OpenCall("")).arguments.append(event.arguments)
        elif isinstance(event, UsageUpdate):
            self._usage = event
        elif isinstance(event, Stop):
            self._stop_reason = event.reason
        return None

    def _close_thinking(self, signature: str | None, block_id: str | None = None) -> None:
        if self._thinking_text or signature or block_id:
            text = "".join(self._thinking_text)
            self._thinking.append(Thinking(text, signature=signature, id=block_id))
        self._thinking_text = []

    def usage_so_far(self) -> UsageUpdate:
        """What the call has used up to now, for a call that will never finish.

        The provider's latest counts, with output tokens at least a rough estimate of what
        was streamed: a call cut short may have reported its input (Anthropic does so first)
        but not its output, or nothing at all.
        """
        streamed = sum(map(len, self._text)) + sum(map(len, self._thinking_text))
        streamed += sum(len(block.text) for block in self._thinking)
        for call in self._calls.values():
            streamed += len(call.name) + sum(map(len, call.arguments))
        estimate = estimate_tokens(streamed)
        if estimate <= self._usage.output_tokens:
            return self._usage
        return replace(self._usage, output_tokens=estimate)

    def result(self) -> TurnResult:
        """The finished turn."""
        if self._thinking_text:
            self._close_thinking(None)
        calls: list[ToolCall] = []
        errors: dict[str, str] = {}
        for index in sorted(self._calls):
            pending = self._calls[index]
            call_id = self._new_call_id()
            raw = "".join(pending.arguments).strip()
            try:
                value = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError as exc:
                value, errors[call_id] = {}, f"the tool arguments are not valid JSON: {exc}"
            if not isinstance(value, dict):
                value, errors[call_id] = {}, "the tool arguments must be a JSON object"
            calls.append(ToolCall(call_id, pending.name, value, pending.provider_call_id or None))
        return TurnResult(
            text="".join(self._text),
            thinking=self._thinking,
            tool_calls=calls,
            usage=self._usage,
            stop_reason=self._stop_reason,
            argument_errors=errors,
        )
