"""Reading a Corral conversation the way every adapter needs to before translating it.

Corral names tool calls with ids of its own; a provider wants its own ids back in the results
(Anthropic's `toolu_…`, OpenAI's `call_…`). This pairs them up, so adapters do not each
reimplement the walk over the conversation.
"""

from __future__ import annotations

from collections.abc import Sequence

from corral.domain.conversation import Message, ToolCall


def wire_call_ids(messages: Sequence[Message]) -> dict[str, str]:
    """Corral call id → the id to show the provider: its own when it gave one."""
    ids: dict[str, str] = {}
    for message in messages:
        if message.role != "assistant":
            continue
        for block in message.blocks():
            if isinstance(block, ToolCall):
                ids[block.call_id] = block.provider_call_id or block.call_id
    return ids
