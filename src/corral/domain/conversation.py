"""Conversation rules: turning run input into messages and reading them back."""

from __future__ import annotations

from typing import Any

MessageDict = dict[str, Any]
"""A message in the wire format of `corral.types.messages.Message`."""


def input_messages(run_input: str | list[dict[str, Any]]) -> list[MessageDict]:
    """The messages a run's input adds to the conversation."""
    if isinstance(run_input, str):
        return [{"role": "user", "content": run_input}]
    return [{"role": m["role"], "content": m["content"]} for m in run_input]


def text_of(message: MessageDict) -> str:
    """The plain text of a message (its text blocks joined)."""
    content = message["content"]
    if isinstance(content, str):
        return content
    return "".join(block["text"] for block in content if block.get("type") == "text")


def last_user_text(messages: list[MessageDict]) -> str:
    """Text of the latest user message, or '' when there is none."""
    for message in reversed(messages):
        if message["role"] == "user":
            return text_of(message)
    return ""


def tool_results_message(results: list[dict[str, Any]]) -> MessageDict:
    """The message that answers an assistant turn's tool calls."""
    return {"role": "tool", "content": results}
