"""The provider-neutral model interface every adapter implements.

A provider turns a `ModelRequest` into a stream of small events: text and thinking deltas, tool
calls whose JSON arguments arrive in pieces, usage, and a stop reason. It raises
`corral.errors.ProviderError` for every failure, with foreign exceptions chained.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from corral.domain.conversation import Message
from corral.domain.run_spec import ModelSettings
from corral.domain.tools import ToolSchema


@dataclass(frozen=True, kw_only=True)
class ModelRequest:
    """One model call: the conversation so far and what the model may do next."""

    model: str
    """The provider's own id of the model (`claude-haiku-4-5`, `gpt-4o-mini`)."""
    instructions: str
    messages: Sequence[Message]
    tools: list[ToolSchema] = field(default_factory=list)
    max_output_tokens: int | None = None
    settings: ModelSettings = field(default_factory=ModelSettings)
    api_key: str | None = field(default=None, repr=False)
    """The key to call the provider with; never logged."""
    base_url: str | None = None
    """The provider's endpoint, when not its public default."""
    stream: bool = True
    """Whether to ask for a stream; some servers only answer tool calls whole."""


@dataclass(frozen=True, slots=True)
class TextDelta:
    """More of the assistant's text."""

    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta:
    """More of the model's reasoning; a `signature` or an `id` completes a thinking block.

    `signature` is what the provider needs to accept the block back on the next turn
    (Anthropic's signature, OpenAI's encrypted reasoning); `id` is the provider's id of the
    block (OpenAI reasoning items).
    """

    text: str
    signature: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallStart:
    """The model began a tool call; `index` identifies it within the turn.

    `call_id` is the provider's id of the call, sent back with its result; Corral gives every
    call an id of its own as well.
    """

    index: int
    name: str
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class ToolCallDelta:
    """More of a tool call's JSON arguments."""

    index: int
    arguments: str


@dataclass(frozen=True, slots=True)
class UsageUpdate:
    """Token counts of the call so far (later updates replace earlier ones).

    `input_tokens` counts every input token, cached or not; the cache counts say how many of
    them were read from or written to the provider's prompt cache (priced differently).
    """

    input_tokens: int
    output_tokens: int
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    """Of `output_tokens`, how many the model spent reasoning."""


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
