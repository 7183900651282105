"""Folds a provider's stream into Corral delta events and the finished assistant turn.

Pure and synchronous: the loop feeds it provider events and emits what it returns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

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
class _PendingCall:
    name: str
    provider_call_id: str | None = None
    arguments: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    """One finished model call."""

    text: str
    thinking: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    """`{call_id, name, input}`, plus `provider_call_id` when the provider named the call and
    `error` when the arguments were not a JSON object."""
    usage: UsageUpdate
    stop_reason: str

    @property
    def input_tokens(self) -> int:
        """Every input token of the call."""
        return self.usage.input_tokens

    @property
    def output_tokens(self) -> int:
        """Every generated token of the call."""
        return self.usage.output_tokens

    def assistant_message(self) -> dict[str, Any]:
        """The turn as a conversation message."""
        content: list[dict[str, Any]] = list(self.thinking)
        if self.text:
            content.append({"type": "text", "text": self.text})
        for call in self.tool_calls:
            block = {
                "type": "tool_call",
                "call_id": call["call_id"],
                "name": call["name"],
                "input": call["input"],
            }
            if call.get("provider_call_id"):
                block["provider_call_id"] = call["provider_call_id"]
            content.append(block)
        return {"role": "assistant", "content": content}


class TurnAccumulator:
    """Collects one model call's stream."""

    def __init__(self, new_call_id: Callable[[], str]) -> None:
        self._new_call_id = new_call_id
        self._text: list[str] = []
        self._thinking: list[dict[str, Any]] = []
        self._thinking_text: list[str] = []
        self._calls: dict[int, _PendingCall] = {}
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
            self._calls[event.index] = _PendingCall(event.name, event.call_id)
        elif isinstance(event, ToolCallDelta):
            self._calls.setdefault(event.index, _PendingCall("")).arguments.append(event.arguments)
        elif isinstance(event, UsageUpdate):
            self._usage = event
        elif isinstance(event, Stop):
            self._stop_reason = event.reason
        return None

    def _close_thinking(self, signature: str | None, block_id: str | None = None) -> None:
        if self._thinking_text or signature or block_id:
            block: dict[str, Any] = {
                "type": "thinking",
                "text": "".join(self._thinking_text),
                "signature": signature,
            }
            if block_id is not None:
                block["id"] = block_id
            self._thinking.append(block)
        self._thinking_text = []

    def result(self) -> TurnResult:
        """The finished turn."""
        if self._thinking_text:
            self._close_thinking(None)
        calls = []
        for index in sorted(self._calls):
            pending = self._calls[index]
            call: dict[str, Any] = {"call_id": self._new_call_id(), "name": pending.name}
            if pending.provider_call_id:
                call["provider_call_id"] = pending.provider_call_id
            raw = "".join(pending.arguments).strip()
            try:
                value = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError as exc:
                value, call["error"] = {}, f"the tool arguments are not valid JSON: {exc}"
            if not isinstance(value, dict):
                value, call["error"] = {}, "the tool arguments must be a JSON object"
            call["input"] = value
            calls.append(call)
        return TurnResult(
            text="".join(self._text),
            thinking=self._thinking,
            tool_calls=calls,
            usage=self._usage,
            stop_reason=self._stop_reason,
        )
