"""Run events: one class per type, discriminated on `type`.

Every event carries `seq` (1, 2, 3… per run, no gaps), `type`, `run_id` and `created_at`.
Clients must ignore event types they do not know: new ones may be added.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field
from typing_extensions import TypeAliasType

from corral.types.common import WireModel
from corral.types.runs import RunError, RunStatus
from corral.types.sessions import SessionStopReason
from corral.types.tools import ToolCall


class BaseEvent(WireModel):
    """Fields every event has."""

    seq: int
    """Position in the run's log, from 1, without gaps."""
    run_id: str
    created_at: datetime


class RunStarted(BaseEvent):
    """A worker began executing the run."""

    type: Literal["run.started"] = "run.started"
    model: str


class MessageDelta(BaseEvent):
    """A piece of the assistant's text as it is generated."""

    type: Literal["message.delta"] = "message.delta"
    text: str


class ThinkingDelta(BaseEvent):
    """A piece of the model's reasoning as it is generated."""

    type: Literal["thinking.delta"] = "thinking.delta"
    text: str


class MessageCompleted(BaseEvent):
    """A model turn ended: its whole text and the tool calls it made."""

    type: Literal["message.completed"] = "message.completed"
    text: str
    tool_calls: list[ToolCall]


class ToolStarted(BaseEvent):
    """Corral began executing a tool call."""

    type: Literal["tool.started"] = "tool.started"
    call_id: str
    name: str
    input: dict[str, Any]


class ToolOutputDelta(BaseEvent):
    """A piece of the output of a `bash` call as it runs.

    Standard output and error as the command wrote them, interleaved. The pieces of a call are
    coalesced and bounded in rate, size and total (see the events documentation); their text
    joined is the start of the output, and the whole result is in `tool.completed`.
    """

    type: Literal["tool.output_delta"] = "tool.output_delta"
    call_id: str
    text: str


class ToolCompleted(BaseEvent):
    """A tool call Corral executed has a result."""

    type: Literal["tool.completed"] = "tool.completed"
    call_id: str
    name: str
    ok: bool
    output: str | None
    error: str | None


class ToolInterrupted(BaseEvent):
    """A call with effects was cut off by the end of the worker running it.

    The run went on elsewhere without running it again; a `tool.completed` with the error
    follows, and the model is told that the call's effects are unknown.
    """

    type: Literal["tool.interrupted"] = "tool.interrupted"
    call_id: str
    name: str
    reason: str


class ClientToolCall(BaseEvent):
    """The model called a client tool: post its result to `/v1/runs/{id}/tool-results`."""

    type: Literal["client_tool.call"] = "client_tool.call"
    call_id: str
    name: str
    input: dict[str, Any]


class ClientToolResult(BaseEvent):
    """The caller's result for a client tool call was received."""

    type: Literal["client_tool.result"] = "client_tool.result"
    call_id: str
    output: str | None = None
    error: str | None = None


class ApprovalRequested(BaseEvent):
    """A permission policy holds a tool call until a person decides: the run is `waiting`.

    Decide with `POST /v1/runs/{id}/approvals/{call_id}`.
    """

    type: Literal["approval.requested"] = "approval.requested"
    approval_id: str
    call_id: str
    name: str
    input: dict[str, Any]
    policy: str
    """What asked: `rules[0]`, `tools.bash`, `tools.github` or `default`."""
    expires_at: str | None
    """When the run fails with `approval_timeout` if no one has decided (null: never)."""


class ApprovalDecided(BaseEvent):
    """A person allowed or denied a held tool call."""

    type: Literal["approval.decided"] = "approval.decided"
    approval_id: str
    call_id: str
    decision: Literal["allow", "deny"]
    decided_by: str | None
    """Id of the API key that decided."""
    message: str | None = None
    """On a denial: what the model reads."""
    input: dict[str, Any] | None = None
    """On an allow with edited arguments: what the call runs with."""


class McpUnavailable(BaseEvent):
    """An MCP server of the run could not be used.

    At the start, its tools are not offered to the model, which is told why. Mid-run (reconnecting
    to a lost server gave up), its tools stay offered and every call to them fails at once.
    """

    type: Literal["mcp.unavailable"] = "mcp.unavailable"
    server: str
    reason: str


class McpReconnected(BaseEvent):
    """An MCP server whose connection was lost mid-run is connected again; its tools work."""

    type: Literal["mcp.reconnected"] = "mcp.reconnected"
    server: str
    attempts: int
    """Connection attempts it took, the successful one included."""
    downtime_s: float
    """From when the loss was noticed to when the server was back."""


class SubagentStarted(BaseEvent):
    """A tool call started a child run (a subagent), with its own id and event log."""

    type: Literal["subagent.started"] = "subagent.started"
    call_id: str
    name: str
    """The tool called: an agent tool, or `subagent`."""
    child_run_id: str
    """The child run (`run_id` is the run whose log this is)."""
    agent: str | None
    """Id of the stored agent it runs; null for an ad-hoc subagent."""
    depth: int
    """The child's depth below the tree's root (the root is 0)."""


class SubagentCompleted(BaseEvent):
    """A child run the run waited for has ended; its answer (or error) is the call's result."""

    type: Literal["subagent.completed"] = "subagent.completed"
    call_id: str
    child_run_id: str
    status: RunStatus
    output: str | None
    error: RunError | None
    input_tokens: int
    output_tokens: int
    cost_usd: float
    """What the child itself spent (its own subagents not counted)."""


class UsageEvent(BaseEvent):
    """Tokens and cost of one model call (their sum is the run's `usage`)."""

    type: Literal["usage"] = "usage"
    input_tokens: int
    """Every input token, prompt-cache hits and writes included."""
    output_tokens: int
    cache_read_tokens: int = 0
    """Of `input_tokens`, how many were read from the provider's prompt cache."""
    cache_write_tokens: int = 0
    """Of `input_tokens`, how many were written to the provider's prompt cache."""
    cost_usd: float


class ContextCompacted(BaseEvent):
    """Before a model call, a summary took the place of the conversation's oldest messages.

    The session and the run keep every original message; only what the model is sent changes.
    """

    type: Literal["context.compacted"] = "context.compacted"
    trigger: Literal["threshold", "overflow"]
    """`threshold`: the request would have filled most of the model's context window;
    `overflow`: the provider refused the request as too long, and it was tried again."""
    messages_total: int
    """Messages in the conversation (a session's earlier ones included)."""
    messages_summarized: int
    """How many leading messages the summary now stands in for."""
    messages_newly_summarized: int
    """Of those, how many this compaction folded in (the rest were in an earlier summary)."""
    summary_calls: int
    """Model calls made to write the summary (0: the session's last summary sufficed)."""
    summary_chars: int
    estimated_tokens_before: int
    """Estimated input tokens of the request before the compaction."""
    estimated_tokens_after: int
    """And after it."""


class BudgetWarning(BaseEvent):
    """The run, or its session, has spent most of a cap; the run ends when it reaches it."""

    type: Literal["budget.warning"] = "budget.warning"
    limit: Literal["max_spend_usd"]
    used_usd: float
    cap_usd: float
    scope: Literal["run", "session"] = "run"
    """Whose cap: the run's `limits.max_spend_usd`, or its session's `max_spend_usd`."""


class SessionStopped(BaseEvent):
    """The run's session takes no more messages until its owner changes what `stop_reason` says.

    Logged by the run that brought the session to its spend cap, before its terminal event.
    """

    type: Literal["session.stopped"] = "session.stopped"
    session_id: str
    stop_reason: SessionStopReason


class RunCompleted(BaseEvent):
    """Terminal: the run produced its answer."""

    type: Literal["run.completed"] = "run.completed"
    output: str


class RunFailed(BaseEvent):
    """Terminal: the run failed."""

    type: Literal["run.failed"] = "run.failed"
    error: RunError


class RunCancelled(BaseEvent):
    """Terminal: the run was cancelled."""

    type: Literal["run.cancelled"] = "run.cancelled"
    reason: str


class RunTimedOut(BaseEvent):
    """Terminal: the run exceeded its timeout."""

    type: Literal["run.timed_out"] = "run.timed_out"
    error: RunError


_AnyEvent = Annotated[
    RunStarted
    | MessageDelta
    | ThinkingDelta
    | MessageCompleted
    | ToolStarted
    | ToolOutputDelta
    | ToolCompleted
    | ToolInterrupted
    | ClientToolCall
    | ClientToolResult
    | ApprovalRequested
    | ApprovalDecided
    | McpUnavailable
    | McpReconnected
    | SubagentStarted
    | SubagentCompleted
    | UsageEvent
    | ContextCompacted
    | BudgetWarning
    | SessionStopped
    | RunCompleted
    | RunFailed
    | RunCancelled
    | RunTimedOut,
    Field(discriminator="type"),
]
Event = TypeAliasType("Event", _AnyEvent)
"""Any event of a run's log, told apart by `type`; named so the OpenAPI document names it too."""


class EventPage(WireModel):
    """A slice of a run's event log."""

    data: list[Event]
    """Events with `seq` greater than `after`, in order."""
    has_more: bool = False
    """True when more events follow the last one returned."""


TERMINAL_EVENT_TYPES = frozenset({"run.completed", "run.failed", "run.cancelled", "run.timed_out"})
