"""Reading a Corral conversation the way every adapter needs to before translating it.

Corral names tool calls with ids of its own; a provider wants its own ids back in the results
(Anthropic's `toolu_…`, OpenAI's `call_…`). These helpers pair them up, so adapters do not each
reimplement the walk over the conversation.
"""

from __future__ import annotations

from typing import Any

MessageDict = dict[str, Any]


def blocks(message: MessageDict) -> list[dict[str, Any]]:
    """A message's content as blocks (a plain string is one text block)."""
    content = message["content"]
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    return list(content)


def wire_call_ids(messages: list[MessageDict]) -> dict[str, str]:
    """Corral call id → the id to show the provider: its own when it gave one."""
    ids: dict[str, str] = {}
    for message in messages:
        if message["role"] != "assistant":
            continue
        for block in blocks(message):
            if block["type"] == "tool_call":
                ids[block["call_id"]] = block.get("provider_call_id") or block["call_id"]
    return ids
