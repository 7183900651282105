"""What a previous attempt of a run logged after its last checkpoint: what not to emit again."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from corral.domain.events import MessageCompleted, Usage
from corral.storage.events import StoredEvent

__all__ = ["Journal"]


@dataclass
class Journal:
    """Events a previous attempt logged after the last checkpoint.

    Streamed events only, as the event writer holds everything else back until the checkpoint
    that records it, and the decisions on calls held for approval, logged by the API while the
    run was parked; a finished turn (`message.completed` with its `usage`) is recognised too,
    as logs written before that rule may hold one, so that the model is not asked for it again.
    """

    has_started: bool = False
    text: str = ""
    thinking: str = ""
    started_tools: set[str] = field(default_factory=set)
    turn: MessageCompleted | None = None
    """The `message.completed` payload of a turn logged after the checkpoint."""
    usage: Usage | None = None
    """Its `usage` payload."""
    decisions: dict[str, dict[str, Any]] = field(default_factory=dict)
    """`approval.decided` payloads by call id: what people decided while the run was parked."""

    @classmethod
    def from_events(cls, events: Sequence[StoredEvent]) -> Journal:
        """Summarise the events logged after the checkpoint."""
        journal = cls()
        for stored in events:
            if stored.type == "run.started":
                journal.has_started = True
            elif stored.type in _JOURNALLED:
                data = orjson.loads(stored.data)
                if stored.type == "message.delta":
                    journal.text += data["text"]
                elif stored.type == "thinking.delta":
                    journal.thinking += data["text"]
                elif stored.type == "tool.started":
                    journal.started_tools.add(data["call_id"])
                elif stored.type == "message.completed":
                    journal.turn, journal.usage = MessageCompleted.parse(data), None
                elif stored.type == "approval.decided":
                    journal.decisions[data["call_id"]] = data
                else:
                    journal.usage = Usage.parse(data)
        return journal


_JOURNALLED = frozenset(
    {
        "message.delta",
        "thinking.delta",
        "tool.started",
        "message.completed",
        "usage",
        "approval.decided",
    }
)
