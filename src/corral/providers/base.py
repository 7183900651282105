"""The provider-neutral model interface every adapter implements.

A provider turns a `ModelRequest` into a stream of small events: text and thinking deltas, tool
calls whose JSON arguments arrive in pieces, usage, and a stop reason. It raises
`corral.errors.ProviderError` for every failure, with foreign exceptions chained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from corral.domain.tools import ToolSchema


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """One model call: the conversation so far and what the model may do next."""

    model: str
    instructions: str
    messages: list[dict[str, Any]]
    """Messages in the wire format of `corral.types.messages.Message`."""
    tools: list[ToolSchema] = field(default_factory=list)
    max_output_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More of the assistant's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """More of the model's reasoning; `signature` completes a thinking block."""

    text: str
    signature: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call; `index` identifies it within the turn."""

    index: int
    name: str


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """More of a tool call's JSON arguments."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Token counts of the call so far (later updates replace earlier ones)."""

    input_tokens: int
    output_tokens: int


@dataclass(frozen=True, slots=True)
class Stop:
    """The call ended: `end_turn`, `tool_use`, `max_tokens` or a provider-specific reason."""

    reason: str


ProviderEvent = TextDelta | ThinkingDelta | ToolCallStart | ToolCallDelta | UsageUpdate | Stop


class Provider(Protocol):
    """Streams one model call."""

    def stream(self, request: ModelRequest) -> AsyncIterator[ProviderEvent]:
        """Yield the call's events; raise `ProviderError` on failure."""
        ...
