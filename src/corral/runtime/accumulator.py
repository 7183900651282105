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
    arguments: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class TurnResult:
    """One finished model call."""

    text: str
    thinking: list[dict[str, Any]]
    tool_calls: list[dict[str, Any]]
    """`{call_id, name, input}`, plus `error` when the arguments were not a JSON object."""
    input_tokens: int
    output_tokens: int
    stop_reason: str

    def assistant_message(self) -> dict[str, Any]:
        """The turn as a conversation message."""
        content: list[dict[str, Any]] = list(self.thinking)
        if self.text:
            content.append({"type": "text", "text": self.text})
        for call in self.tool_calls:
            content.append(
                {
                    "type": "tool_call",
                    "call_id": call["call_id"],
                    "name": call["name"],
                    "input": call["input"],
                }
            )
        return {"role": "assistant", "content": content}


class TurnAccumulator:
    """Collects one model call's stream."""

    def __init__(self, new_call_id: Callable[[], str]) -> None:
        self._new_call_id = new_call_id
        self._text: list[str] = []
        self._thinking: list[dict[str, Any]] = []
        self._thinking_text: list[str] = []
        self._calls: dict[int, _PendingCall] = {}
        self._input_tokens = 0
        self._output_tokens = 0
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
            if event.signature is not None:
                self._close_thinking(event.signature)
            return ("thinking.delta", event.text) if event.text else None
        if isinstance(event, ToolCallStart):
            self._calls[event.index] = _PendingCall(event.name)
        elif isinstance(event, ToolCallDelta):
            self._calls.setdefault(event.index, _PendingCall("")).arguments.append(event.arguments)
        elif isinstance(event, UsageUpdate):
            self._input_tokens = event.input_tokens
            self._output_tokens = event.output_tokens
        elif isinstance(event, Stop):
            self._stop_reason = event.reason
        return None

    def _close_thinking(self, signature: str | None) -> None:
        if self._thinking_text or signature:
            self._thinking.append(
                {"type": "thinking", "text": "".join(self._thinking_text), "signature": signature}
            )
        self._thinking_text = []

    def result(self) -> TurnResult:
        """The finished turn."""
        if self._thinking_text:
            self._close_thinking(None)
        calls = []
        for index in sorted(self._calls):
            pending = self._calls[index]
            call: dict[str, Any] = {"call_id": self._new_call_id(), "name": pending.name}
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
            input_tokens=self._input_tokens,
            output_tokens=self._output_tokens,
            stop_reason=self._stop_reason,
        )
