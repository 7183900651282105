"""What a run's events say, as typed payloads built where they are emitted.

Each class is one event type of the public log (`corral.types.events` is its wire schema, which
adds the envelope: `seq`, `run_id`, `created_at`). A misspelt field or a wrong type is an error
where the event is written, caught by the type checker, not a malformed event in someone's log.
Payloads are immutable and cheap (a frozen dataclass, no validation on the hot path of deltas);
`tests/events_schema.py` validates every event the test suite stores against the wire schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

__all__ = [
    "ApprovalDecided",
    "ApprovalRequested",
    "BudgetWarning",
    "CalledTool",
    "ClientToolCall",
    "ClientToolResult",
    "ContextCompacted",
    "EventPayload",
    "Failure",
    "McpReconnected",
    "McpUnavailable",
    "MessageCompleted",
    "MessageDelta",
    "RunCancelled",
    "RunCompleted",
    "RunFailed",
    "RunStarted",
    "RunTimedOut",
    "SessionStopped",
    "SubagentCompleted",
    "SubagentStarted",
    "ThinkingDelta",
    "ToolCompleted",
    "ToolInterrupted",
    "ToolOutputDelta",
    "ToolStarted",
    "Usage",
]


@dataclass(frozen=True, slots=True)
class EventPayload:
    """Base of every payload: its `type` and its fields as the log stores them."""

    type: ClassVar[str]

    def fields(self) -> dict[str, Any]:
        """The payload as JSON-ready fields (nested parts override this to become objects)."""
        # `__slots__` names the fields in order; cheaper than `asdict`, which deep-copies.
        names: tuple[str, ...] = self.__slots__
        return {name: getattr(self, name) for name in names}

    def entry(self) -> tuple[str, dict[str, Any]]:
        """`(type, fields)`, as the event log takes it."""
        return self.type, self.fields()


@dataclass(frozen=True, slots=True)
class CalledTool:
    """A tool call as a finished turn reports it."""

    call_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a run failed or timed out: a machine code and a human message."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class RunStarted(EventPayload):
    """A worker began executing the run."""

    type: ClassVar[str] = "run.started"
    model: str


@dataclass(frozen=True, slots=True)
class MessageDelta(EventPayload):
    """A piece of the assistant's text."""

    type: ClassVar[str] = "message.delta"
    text: str


@dataclass(frozen=True, slots=True)
class ThinkingDelta(EventPayload):
    """A piece of the model's reasoning."""

    type: ClassVar[str] = "thinking.delta"
    text: str


@dataclass(frozen=True, slots=True)
class MessageCompleted(EventPayload):
    """A model turn ended."""

    type: ClassVar[str] = "message.completed"
    text: str
    tool_calls: tuple[CalledTool, ...]

    def fields(self) -> dict[str, Any]:
        """The calls as objects."""
        calls = [{"call_id": c.call_id, "name": c.name, "input": c.input} for c in self.tool_calls]
        return {"text": self.text, "tool_calls": calls}

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> MessageCompleted:
        """The payload as the log stored it (missing fields read as empty)."""
        calls = tuple(
            CalledTool(call_id=c["call_id"], name=c["name"], input=c.get("input") or {})
            for c in data.get("tool_calls") or ()
        )
        return cls(text=data.get("text") or "", tool_calls=calls)


@dataclass(frozen=True, slots=True)
class BudgetWarning(EventPayload):
    """The run, or its session (`scope`), has spent most of its spend cap."""

    type: ClassVar[str] = "budget.warning"
    limit: str
    used_usd: float
    cap_usd: float
    scope: str = "run"


@dataclass(frozen=True, slots=True)
class SessionStopped(EventPayload):
    """The run's session takes no more messages until what `reason` names changes."""

    type: ClassVar[str] = "session.stopped"
    session_id: str
    reason: str
    spent_usd: float
    max_spend_usd: float

    def fields(self) -> dict[str, Any]:
        """The reason as an object, as `GET /v1/sessions/{id}` shows it."""
        return {
            "session_id": self.session_id,
            "stop_reason": {
                "type": self.reason,
                "spent_usd": self.spent_usd,
                "max_spend_usd": self.max_spend_usd,
            },
        }


@dataclass(frozen=True, slots=True)
class Usage(EventPayload):
    """Tokens and cost of one model call."""

    type: ClassVar[str] = "usage"
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float

    @classmethod
    def parse(cls, data: Mapping[str, Any]) -> Usage:
        """The payload as the log stored it (missing counts read as zero)."""
        return cls(
            input_tokens=int(data.get("input_tokens", 0)),
            output_tokens=int(data.get("output_tokens", 0)),
            cache_read_tokens=int(data.get("cache_read_tokens", 0)),
            cache_write_tokens=int(data.get("cache_write_tokens", 0)),
            cost_usd=float(data.get("cost_usd", 0.0)),
        )


@dataclass(frozen=True, slots=True)
class ContextCompacted(EventPayload):
    """Before a model call, a summary took the place of the conversation's oldest messages.

    `trigger` is `threshold` (the request would have filled most of the window) or `overflow`
    (the provider refused it as too long).
    """

    type: ClassVar[str] = "context.compacted"
    trigger: str
    messages_total: int
    messages_summarized: int
    messages_newly_summarized: int
    summary_calls: int
    summary_chars: int
    estimated_tokens_before: int
    estimated_tokens_after: int


@dataclass(frozen=True, slots=True)
class ToolStarted(EventPayload):
    """Corral began executing a tool call."""

    type: ClassVar[str] = "tool.started"
    call_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ToolOutputDelta(EventPayload):
    """A piece of a running command's output (stdout and stderr as it wrote them)."""

    type: ClassVar[str] = "tool.output_delta"
    call_id: str
    text: str


@dataclass(frozen=True, slots=True)
class ToolCompleted(EventPayload):
    """A tool call Corral executed has a result: `output` when `ok`, else `error`."""

    type: ClassVar[str] = "tool.completed"
    call_id: str
    name: str
    ok: bool
    output: str | None
    error: str | None


@dataclass(frozen=True, slots=True)
class ToolInterrupted(EventPayload):
    """A call with effects was cut off by the end of the worker running it."""

    type: ClassVar[str] = "tool.interrupted"
    call_id: str
    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ClientToolCall(EventPayload):
    """The model called a tool the caller executes."""

    type: ClassVar[str] = "client_tool.call"
    call_id: str
    name: str
    input: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ClientToolResult(EventPayload):
    """The caller's result for a client tool call: exactly one of `output` and `error`."""

    type: ClassVar[str] = "client_tool.result"
    call_id: str
    output: str | None = None
    error: str | None = None

    def fields(self) -> dict[str, Any]:
        """Only the side that was given, as the caller posted it."""
        if self.error is not None:
            return {"call_id": self.call_id, "error": self.error}
        return {"call_id": self.call_id, "output": self.output}


@dataclass(frozen=True, slots=True)
class ApprovalRequested(EventPayload):
    """A permission policy holds a tool call until a person decides (the run waits)."""

    type: ClassVar[str] = "approval.requested"
    approval_id: str
    call_id: str
    name: str
    input: dict[str, Any]
    policy: str
    expires_at: str | None


@dataclass(frozen=True, slots=True)
class ApprovalDecided(EventPayload):
    """A person allowed or denied a held call (`input` when they changed its arguments)."""

    type: ClassVar[str] = "approval.decided"
    approval_id: str
    call_id: str
    decision: str
    decided_by: str | None
    message: str | None = None
    input: dict[str, Any] | None = None

    def fields(self) -> dict[str, Any]:
        """`message` and `input` only when given."""
        data: dict[str, Any] = {
            "approval_id": self.approval_id,
            "call_id": self.call_id,
            "decision": self.decision,
            "decided_by": self.decided_by,
        }
        if self.message is not None:
            data["message"] = self.message
        if self.input is not None:
            data["input"] = self.input
        return data


@dataclass(frozen=True, slots=True)
class McpUnavailable(EventPayload):
    """An MCP server of the run could not be used."""

    type: ClassVar[str] = "mcp.unavailable"
    server: str
    reason: str


@dataclass(frozen=True, slots=True)
class McpReconnected(EventPayload):
    """An MCP server whose connection was lost mid-run is connected again."""

    type: ClassVar[str] = "mcp.reconnected"
    server: str
    attempts: int
    downtime_s: float


@dataclass(frozen=True, slots=True)
class SubagentStarted(EventPayload):
    """A tool call started a child run."""

    type: ClassVar[str] = "subagent.started"
    call_id: str
    name: str
    child_run_id: str
    agent: str | None
    depth: int


@dataclass(frozen=True, slots=True)
class SubagentCompleted(EventPayload):
    """A child run the run waited for has ended; its answer is the call's result."""

    type: ClassVar[str] = "subagent.completed"
    call_id: str
    child_run_id: str
    status: str
    output: str | None
    error: dict[str, Any] | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class RunCompleted(EventPayload):
    """Terminal: the run produced its answer."""

    type: ClassVar[str] = "run.completed"
    output: str


@dataclass(frozen=True, slots=True)
class RunFailed(EventPayload):
    """Terminal: the run failed."""

    type: ClassVar[str] = "run.failed"
    error: Failure

    def fields(self) -> dict[str, Any]:
        """The failure as an object."""
        return {"error": {"code": self.error.code, "message": self.error.message}}


@dataclass(frozen=True, slots=True)
class RunCancelled(EventPayload):
    """Terminal: the run was cancelled."""

    type: ClassVar[str] = "run.cancelled"
    reason: str


@dataclass(frozen=True, slots=True)
class RunTimedOut(EventPayload):
    """Terminal: the run exceeded its timeout."""

    type: ClassVar[str] = "run.timed_out"
    error: Failure

    def fields(self) -> dict[str, Any]:
        """The failure as an object."""
        return {"error": {"code": self.error.code, "message": self.error.message}}
