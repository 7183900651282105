"""The tool calls of a run's last turn while they are worked on: the checkpoint's `pending`.

A call is run by Corral (`server`) or announced to the caller and awaited (`client`). The
stored shape is the one checkpoints have always had: optional keys appear only when set, so a
checkpoint written before and one written now read the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from corral.domain.conversation import ToolCall
from corral.domain.event_log import format_time, parse_time

__all__ = ["CallKind", "PendingCall", "parse_pending_call"]


class CallKind(StrEnum):
    """Who executes a call."""

    CLIENT = "client"
    """The caller: the run waits for the result it posts."""
    SERVER = "server"
    """Corral, in the run's worker (also every call answered at once with its error)."""
    CHILD = "child"
    """A subagent: a child run is started, or awaited (`subagents`)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PendingCall:
    """A tool call of the last turn that has no result yet."""

    call_id: str
    name: str
    input: dict[str, Any]
    kind: CallKind
    provider_call_id: str | None = None
    error: str | None = None
    """Why the call cannot run (bad arguments, unknown tool): its result, given at once."""
    deadline_at: str | None = None
    """When the caller's result is due, once the client call was announced."""
    timeout_s: float | None = None
    """The time the caller was given, once the client call was announced."""
    asked: str | None = None
    """What asked for a person's approval (`tools.bash`), while the call waits for it."""
    refused: bool = False
    """A policy or a person refused the call: `error` says so, and it never started."""
    child_run: str | None = None
    """The subagent run the call started or awaits, once known."""

    @classmethod
    def of(cls, call: ToolCall, *, kind: CallKind, error: str | None = None) -> PendingCall:
        """The pending form of a call the model made."""
        return cls(
            call_id=call.call_id,
            name=call.name,
            input=call.input,
            kind=kind,
            provider_call_id=call.provider_call_id,
            error=error,
        )

    def allowed(self, arguments: dict[str, Any] | None) -> PendingCall:
        """The call once a person allowed it, with the arguments they gave, if any."""
        return replace(self, asked=None, input=self.input if arguments is None else arguments)

    def denied(self, reason: str) -> PendingCall:
        """The call once a policy or a person refused it."""
        return replace(self, asked=None, refused=True, error=reason)

    def issued(self, now: datetime, timeout_s: float) -> PendingCall:
        """The call as announced to the caller at `now`, due `timeout_s` later."""
        deadline_at = format_time(now + timedelta(seconds=timeout_s))
        return replace(self, deadline_at=deadline_at, timeout_s=timeout_s)

    def deadline(self) -> datetime:
        """When the caller's result is due; only an announced client call has one."""
        if self.deadline_at is None:
            raise ValueError(f"tool call {self.call_id} was never announced")
        return parse_time(self.deadline_at)

    def to_json(self) -> dict[str, Any]:
        """The call as the checkpoint stores it."""
        data: dict[str, Any] = {"call_id": self.call_id, "name": self.name, "input": self.input}
        if self.provider_call_id:
            data["provider_call_id"] = self.provider_call_id
        data["kind"] = self.kind.value
        if self.error is not None:
            data["error"] = self.error
        if self.deadline_at is not None:
            data["deadline_at"] = self.deadline_at
        if self.timeout_s is not None:
            data["timeout_s"] = self.timeout_s
        if self.asked is not None:
            data["asked"] = self.asked
        if self.refused:
            data["refused"] = True
        if self.child_run is not None:
            data["child_run"] = self.child_run
        return data


def parse_pending_call(data: Mapping[str, Any]) -> PendingCall:
    """A pending call as a checkpoint stored it."""
    return PendingCall(
        call_id=data["call_id"],
        name=data["name"],
        input=data.get("input") or {},
        kind=CallKind(data["kind"]),
        provider_call_id=data.get("provider_call_id"),
        error=data.get("error"),
        deadline_at=data.get("deadline_at"),
        timeout_s=data.get("timeout_s"),
        asked=data.get("asked"),
        refused=bool(data.get("refused", False)),
        child_run=data.get("child_run"),
    )
