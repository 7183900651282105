"""Conversation messages: what a run takes as input and what a session remembers."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from corral.types.common import ParamsModel, WireModel


class TextBlock(WireModel):
    """Text written by the user or the model."""

    type: Literal["text"] = "text"
    text: str


class ThinkingBlock(WireModel):
    """The model's reasoning, kept so it can be sent back on the next turn."""

    type: Literal["thinking"] = "thinking"
    text: str
    signature: str | None = None
    """Provider signature that must accompany the thinking when it is replayed."""
    id: str | None = None
    """The provider's id of the block (OpenAI reasoning items), when it has one."""


class ToolCallBlock(WireModel):
    """A tool call the model made."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    input: dict[str, Any]
    provider_call_id: str | None = None
    """The provider's id of the call, which its result must quote back to that provider."""


class ToolResultBlock(WireModel):
    """The result of a tool call, given back to the model."""

    type: Literal["tool_result"] = "tool_result"
    call_id: str
    name: str
    output: str
    is_error: bool = False


ContentBlock = Annotated[
    TextBlock | ThinkingBlock | ToolCallBlock | ToolResultBlock, Field(discriminator="type")
]


class Message(WireModel):
    """One entry of a conversation.

    `user` messages carry text; `assistant` messages carry text, thinking and tool calls;
    `tool` messages carry the results of the previous assistant message's tool calls.
    """

    role: Literal["user", "assistant", "tool"]
    content: str | list[ContentBlock]


class InputMessage(ParamsModel):
    """A message given as run input."""

    role: Literal["user", "assistant"]
    """Who said it."""
    content: Annotated[str, Field(min_length=1, max_length=1_000_000)]
    """What was said."""
