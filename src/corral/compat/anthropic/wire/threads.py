"""Session threads: the subagents a coordinator hands work to."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from corral.compat.anthropic.wire.common import CursorPage, Wire


class ThreadUsage(Wire):
    """What the thread's model calls used."""

    input_tokens: int
    output_tokens: int


class ThreadObject(Wire):
    """A thread: one subagent run of the session (a Corral child run)."""

    type: Literal["session_thread"] = "session_thread"
    id: str
    session_id: str
    agent: dict[str, Any]
    status: Literal["running", "idle", "rescheduling", "terminated"]
    parent_thread_id: str | None = None
    usage: ThreadUsage
    created_at: datetime
    updated_at: datetime
    archived_at: datetime | None = None


class ManagedThreadPage(CursorPage[ThreadObject]):
    """A page of threads."""
