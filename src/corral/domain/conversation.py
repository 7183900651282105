"""A run's conversation as immutable typed values, parsed once from stored JSON.

Messages are stored (checkpoints, session history, run input) in the wire format of
`corral.types.messages.Message`. `parse_message` is the one way that JSON becomes a `Message`,
and `Message.to_json` gives back the same JSON, key for key, so stored rows round-trip and
providers see exactly what they saw before. Parsing is lenient with older rows: extra keys are
ignored, missing optional ones take their defaults, and blocks of an unknown type are skipped
(no provider could be sent them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, get_args

__all__ = [
    "Block",
    "Message",
    "Role",
    "Text",
    "Thinking",
    "ToolCall",
    "ToolResult",
    "input_messages",
    "last_user_text",
    "parse_message",
    "parse_messages",
    "parse_tool_result",
    "text_of",
    "tool_results_message",
]

Role = Literal["user", "assistant", "tool"]
_ROLES: frozenset[str] = frozenset(get_args(Role))


@dataclass(frozen=True, slots=True)
class Text:
    """Text written by the user or the model."""

    text: str

    def to_json(self) -> dict[str, Any]:
        """The block as stored."""
        return {"type": "text", "text": self.text}


@dataclass(frozen=True, slots=True)
class Thinking:
    """The model's reasoning, kept so that it can be sent back on the next turn.

    `signature` is what the provider needs to accept the block back; `id` is the provider's id
    of the block (OpenAI reasoning items).
    """

    text: str
    signature: str | None = None
    id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The block as stored: `signature` always, `id` only when there is one."""
        data: dict[str, Any] = {"type": "thinking", "text": self.text, "signature": self.signature}
        if self.id is not None:
            data["id"] = self.id
        return data


@dataclass(frozen=True, slots=True)
class ToolCall:
    """A tool call the model made, under Corral's id (`provider_call_id` is the provider's)."""

    call_id: str
    name: str
    input: dict[str, Any]
    provider_call_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The block as stored: `provider_call_id` only when the provider named the call."""
        data: dict[str, Any] = {
            "type": "tool_call",
            "call_id": self.call_id,
            "name": self.name,
            "input": self.input,
        }
        if self.provider_call_id:
            data["provider_call_id"] = self.provider_call_id
        return data


@dataclass(frozen=True, slots=True)
class ToolResult:
    """The result of a tool call, given back to the model; `output` is the error if `is_error`."""

    call_id: str
    name: str
    output: str
    is_error: bool = False

    def to_json(self) -> dict[str, Any]:
        """The block as stored."""
        return {
            "type": "tool_result",
            "call_id": self.call_id,
            "name": self.name,
            "output": self.output,
            "is_error": self.is_error,
        }


Block = Text | Thinking | ToolCall | ToolResult


@dataclass(frozen=True, slots=True)
class Message:
    """One entry of the conversation.

    A plain-string `content` stays a string (as run input gives it), so that it is stored back
    as it came.
    """

    role: Role
    content: str | tuple[Block, ...]

    def blocks(self) -> tuple[Block, ...]:
        """The content as blocks: a string is one text block, an empty one none."""
        if isinstance(self.content, str):
            return (Text(self.content),) if self.content else ()
        return self.content

    def to_json(self) -> dict[str, Any]:
        """The message as stored."""
        content = self.content
        if isinstance(content, str):
            return {"role": self.role, "content": content}
        return {"role": self.role, "content": [block.to_json() for block in content]}


def _parse_block(data: Mapping[str, Any]) -> Block | None:
    match data.get("type"):
        case "text":
            return Text(data.get("text") or "")
        case "thinking":
            return Thinking(
                data.get("text") or "", signature=data.get("signature"), id=data.get("id")
            )
        case "tool_call":
            return ToolCall(
                data["call_id"],
                data["name"],
                data.get("input") or {},
                provider_call_id=data.get("provider_call_id"),
            )
        case "tool_result":
            return parse_tool_result(data)
    return None


def parse_tool_result(data: Mapping[str, Any]) -> ToolResult:
    """A stored `tool_result` block."""
    return ToolResult(
        data["call_id"],
        data["name"],
        data.get("output") or "",
        is_error=bool(data.get("is_error", False)),
    )


def parse_message(data: Mapping[str, Any]) -> Message:
    """A stored message (a checkpoint's, a session's, or a run's input) as a `Message`."""
    role = data["role"]
    if role not in _ROLES:
        raise ValueError(f"unknown message role {role!r}")
    content = data.get("content") or ""
    if isinstance(content, str):
        return Message(role, content)
    parsed = (_parse_block(block) for block in content)
    return Message(role, tuple(block for block in parsed if block is not None))


def parse_messages(data: Iterable[Mapping[str, Any]]) -> list[Message]:
    """Stored messages, in order."""
    return [parse_message(message) for message in data]


def input_messages(run_input: str | Sequence[Mapping[str, Any]]) -> list[Message]:
    """The messages a run's input adds to the conversation."""
    if isinstance(run_input, str):
        return [Message("user", run_input)]
    return parse_messages(run_input)


def text_of(message: Message) -> str:
    """The plain text of a message (its text blocks joined)."""
    content = message.content
    if isinstance(content, str):
        return content
    return "".join(block.text for block in content if isinstance(block, Text))


def last_user_text(messages: Sequence[Message]) -> str:
    """Text of the latest user message, or '' when there is none."""
    for message in reversed(messages):
        if message.role == "user":
            return text_of(message)
    return ""


def tool_results_message(results: Iterable[ToolResult]) -> Message:
    """The message that answers an assistant turn's tool calls."""
    return Message("tool", tuple(results))
