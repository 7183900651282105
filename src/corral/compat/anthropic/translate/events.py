"""Corral's session log as the API's session events.

A session's log holds the events of its runs, one run per turn. `EventTranslator` reads it in
order from the first event of a run (the service starts it there, so every reference it makes
points at an event it has seen) and turns each Corral event into none, one or several of the
API's events:

- `run.started` becomes the turn's `user.message` and `session.status_running`;
- text and thinking deltas become `event_start` / `event_delta` previews (shown on a stream that
  asks for them), and the turn's `agent.thinking` and `agent.message`, whose ids the previews
  carried;
- calls become `agent.tool_use`, `agent.mcp_tool_use` or `agent.custom_tool_use`; their results
  `agent.tool_result` or `agent.mcp_tool_result`; answers the caller sent are shown as
  `user.tool_confirmation` and `user.custom_tool_result`;
- a group of calls waiting for the caller is followed by `session.status_idle` with
  `requires_action` and their event ids; the end of a run by `session.status_idle` with
  `end_turn`, `retries_exhausted` or `budget_reached` (after a `session.error`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from corral.compat.anthropic.translate.numbering import Out, Translated, event_id
from corral.types.errors import ErrorCode

PREVIEW_TYPES = frozenset({"agent.message", "agent.thinking"})
"""What `event_deltas` may ask previews of."""

WAITING_TYPES = frozenset({"client_tool.call", "approval.requested"})
"""Corral events of calls a run waits on the caller for; a group of them is written at once."""
_IDLE_INDEX = 99
"""The number of a waiting group's idle event among its last call's events."""

_BUDGET_CODES = frozenset({ErrorCode.BUDGET_EXCEEDED, ErrorCode.SPEND_LIMIT_REACHED})
_MODEL_ERRORS = {
    ErrorCode.PROVIDER_RATE_LIMITED: "model_rate_limited_error",
    ErrorCode.PROVIDER_OVERLOADED: "model_overloaded_error",
    ErrorCode.PROVIDER_ERROR: "model_request_failed_error",
    ErrorCode.PROVIDER_AUTH_ERROR: "model_request_failed_error",
    ErrorCode.CONTEXT_LENGTH_EXCEEDED: "model_request_failed_error",
    ErrorCode.MAX_TOOL_CALLS_EXCEEDED: "tool_use_limit_reached_error",
}


def text_blocks(text: str) -> list[dict[str, str]]:
    """Text as the API's content blocks."""
    return [{"type": "text", "text": text}]


def input_blocks(run_input: Any) -> list[dict[str, str]]:
    """A run's input as a `user.message`'s content."""
    if isinstance(run_input, str):
        return text_blocks(run_input)
    parts = [m.get("content", "") for m in run_input or [] if m.get("role") == "user"]
    return text_blocks("\n\n".join(p for p in parts if isinstance(p, str)))


@dataclass
class _Turn:
    """What the current model call has produced so far."""

    start_id: str | None = None
    thinking_id: str | None = None
    thinking_open: bool = False
    message_id: str | None = None


@dataclass
class _Run:
    """What the translator knows of the run being read."""

    turn: _Turn = field(default_factory=_Turn)
    calls: dict[str, str] = field(default_factory=dict)
    """Call id → id of the event that showed the call."""
    mcp_calls: set[str] = field(default_factory=set)
    asked: set[str] = field(default_factory=set)
    waiting: list[str] = field(default_factory=list)
    """Ids of the calls of the group waiting for the caller, as the idle event lists them."""
    waiting_at: tuple[int, str] = (0, "")
    """The cursor and time of the group's last call: the idle event is numbered from them."""
    idle: bool = False
    tasks: dict[str, str] = field(default_factory=dict)
    """Call id → the task an agent tool call hands its subagent."""
    threads: dict[str, str] = field(default_factory=dict)
    """Child run id → the name of the agent it runs."""


class EventTranslator:
    """Turns a session's stored events, read in order from a run's start, into the API's."""

    def __init__(self, run_inputs: dict[str, Any], mcp_servers: frozenset[str]) -> None:
        self._inputs = run_inputs
        self._servers = mcp_servers
        self._run = _Run()
        self._handlers = self._handler_table()

    def feed(self, cursor: int, event: dict[str, Any]) -> list[Translated]:
        """The API's events for one stored event (`event` is its JSON document)."""
        out = Out(cursor, event["created_at"])
        kind = event["type"]
        if self._run.waiting and kind not in WAITING_TYPES:
            self._close_waiting(out)
        handle = self._handlers.get(kind)
        if handle is not None:
            handle(out, event)
        return out.events

    def _handler_table(self) -> dict[str, Callable[[Out, dict[str, Any]], None]]:
        return {
            "run.started": self._started,
            "thinking.delta": self._delta,
            "message.delta": self._delta,
            "message.completed": self._completed,
            "usage": self._usage,
            "tool.started": self._tool_started,
            "tool.completed": self._tool_completed,
            "approval.requested": self._asked,
            "approval.decided": self._decided,
            "client_tool.call": self._client_call,
            "client_tool.result": self._client_result,
            "context.compacted": self._compacted,
            "mcp.unavailable": self._mcp_unavailable,
            "subagent.started": self._thread_started,
            "subagent.completed": self._thread_ended,
            "run.completed": self._ended,
            "run.cancelled": self._ended,
            "run.failed": self._failed,
            "run.timed_out": self._failed,
        }

    def _started(self, out: Out, event: dict[str, Any]) -> None:
        self._run = _Run()
        out.add("user.message", content=input_blocks(self._inputs.get(event["run_id"], "")))
        out.add("session.status_running")

    def _thread_started(self, out: Out, event: dict[str, Any]) -> None:
        thread, name = event["child_run_id"], event["name"]
        self._run.threads[thread] = name
        out.add("session.thread_created", session_thread_id=thread, agent_name=name)
        task = self._run.tasks.get(event["call_id"], "")
        out.add(
            "agent.thread_message_sent",
            to_session_thread_id=thread,
            to_agent_name=name,
            content=text_blocks(task),
        )
        out.add("session.thread_status_running", session_thread_id=thread, agent_name=name)

    def _thread_ended(self, out: Out, event: dict[str, Any]) -> None:
        thread = event["child_run_id"]
        name = self._run.threads.get(thread, "subagent")
        error = event.get("error")
        answer = event.get("output") if error is None else f"{error['code']}: {error['message']}"
        out.add(
            "agent.thread_message_received",
            from_session_thread_id=thread,
            from_agent_name=name,
            content=text_blocks(answer or ""),
        )
        if event["status"] == "completed":
            out.add(
                "session.thread_status_idle",
                session_thread_id=thread,
                agent_name=name,
                stop_reason={"type": "end_turn"},
            )
        else:
            out.add("session.thread_status_terminated", session_thread_id=thread, agent_name=name)

    def _decided(self, out: Out, event: dict[str, Any]) -> None:
        out.add(
            "user.tool_confirmation",
            tool_use_id=self._run.calls.get(event["call_id"], event["call_id"]),
            result=event["decision"],
            deny_message=event.get("message"),
        )
        self._resumed(out)

    def _client_call(self, out: Out, event: dict[str, Any]) -> None:
        run = self._run
        use_id = out.add("agent.custom_tool_use", name=event["name"], input=event["input"])
        run.calls[event["call_id"]] = use_id
        run.waiting.append(use_id)
        run.waiting_at = (out.cursor, out.created_at)

    def _client_result(self, out: Out, event: dict[str, Any]) -> None:
        error = event.get("error")
        out.add(
            "user.custom_tool_result",
            custom_tool_use_id=self._run.calls.get(event["call_id"], event["call_id"]),
            content=text_blocks(error if error is not None else event.get("output") or ""),
            is_error=error is not None,
        )
        self._resumed(out)

    def _compacted(self, out: Out, event: dict[str, Any]) -> None:
        out.add("agent.thread_context_compacted")

    def _mcp_unavailable(self, out: Out, event: dict[str, Any]) -> None:
        error = _error("mcp_connection_failed_error", event["reason"])
        out.add("session.error", error=error | {"mcp_server_name": event["server"]})

    def _ended(self, out: Out, event: dict[str, Any]) -> None:
        self._close_turn(out)
        out.add("session.status_idle", stop_reason={"type": "end_turn"})

    def flush(self) -> list[Translated]:
        """Close the group of waiting calls the log ends with, once it is known to be whole."""
        out = Out(0, "")
        if self._run.waiting:
            self._close_waiting(out)
        return out.events

    def _delta(self, out: Out, event: dict[str, Any]) -> None:
        kind, text = event["type"], event["text"]
        turn = self._run.turn
        if turn.start_id is None:
            turn.start_id = out.add("span.model_request_start")
        if kind == "thinking.delta":
            if turn.thinking_id is None:
                turn.thinking_id = out.next_id()
                turn.thinking_open = True
                out.preview(
                    {
                        "type": "event_start",
                        "event": {"type": "agent.thinking", "id": turn.thinking_id},
                    }
                )
                out.skip()
            return
        self._close_thinking(out)
        if turn.message_id is None:
            turn.message_id = out.next_id()
            out.preview(
                {"type": "event_start", "event": {"type": "agent.message", "id": turn.message_id}}
            )
            out.skip()
        out.preview(
            {
                "type": "event_delta",
                "event_id": turn.message_id,
                "delta": {"type": "content_delta", "index": 0, "content": text_blocks(text)[0]},
            }
        )

    def _close_thinking(self, out: Out) -> None:
        turn = self._run.turn
        if turn.thinking_open and turn.thinking_id is not None:
            out.add("agent.thinking", event_id=turn.thinking_id)
            turn.thinking_open = False

    def _completed(self, out: Out, event: dict[str, Any]) -> None:
        text = event["text"]
        for call in event.get("tool_calls") or []:
            task = call.get("input", {}).get("task")
            if isinstance(task, str):
                self._run.tasks[call["call_id"]] = task
        turn = self._run.turn
        if turn.start_id is None:
            turn.start_id = out.add("span.model_request_start")
        self._close_thinking(out)
        if text:
            out.add("agent.message", event_id=turn.message_id, content=text_blocks(text))

    def _usage(self, out: Out, event: dict[str, Any]) -> None:
        turn = self._run.turn
        cache_read = event.get("cache_read_tokens", 0)
        cache_write = event.get("cache_write_tokens", 0)
        out.add(
            "span.model_request_end",
            model_request_start_id=turn.start_id or out.next_id(),
            is_error=False,
            model_usage={
                "input_tokens": event["input_tokens"] - cache_read - cache_write,
                "output_tokens": event["output_tokens"],
                "cache_read_input_tokens": cache_read,
                "cache_creation_input_tokens": cache_write,
            },
        )
        self._run.turn = _Turn()

    def _is_mcp(self, name: str) -> str | None:
        server, sep, _ = name.partition("__")
        return server if sep and server in self._servers else None

    def _show_call(self, out: Out, event: dict[str, Any], permission: str) -> str:
        call_id, name = event["call_id"], event["name"]
        server = self._is_mcp(name)
        evaluation = {"type": "always_ask" if permission == "ask" else "always_allow"}
        if server is not None:
            self._run.mcp_calls.add(call_id)
            shown = out.add(
                "agent.mcp_tool_use",
                name=name.partition("__")[2],
                mcp_server_name=server,
                input=event["input"],
                evaluated_permission=permission,
                evaluation=evaluation,
            )
        else:
            shown = out.add(
                "agent.tool_use",
                name=name,
                input=event["input"],
                evaluated_permission=permission,
                evaluation=evaluation,
            )
        self._run.calls[call_id] = shown
        return shown

    def _tool_started(self, out: Out, event: dict[str, Any]) -> None:
        if event["call_id"] not in self._run.asked:
            self._show_call(out, event, "allow")

    def _tool_completed(self, out: Out, event: dict[str, Any]) -> None:
        run = self._run
        call_id = event["call_id"]
        if call_id not in run.calls:
            self._show_call(out, event | {"input": {}}, "allow")
        error = event.get("error")
        content = text_blocks(error if error is not None else event.get("output") or "")
        if call_id in run.mcp_calls:
            out.add(
                "agent.mcp_tool_result",
                mcp_tool_use_id=run.calls[call_id],
                content=content,
                is_error=not event["ok"],
            )
        else:
            out.add(
                "agent.tool_result",
                tool_use_id=run.calls[call_id],
                content=content,
                is_error=not event["ok"],
            )

    def _asked(self, out: Out, event: dict[str, Any]) -> None:
        self._run.asked.add(event["call_id"])
        self._run.waiting.append(self._show_call(out, event, "ask"))
        self._run.waiting_at = (out.cursor, out.created_at)

    def _close_waiting(self, out: Out) -> None:
        """The idle event of a waiting group, the same wherever the log was cut."""
        run = self._run
        cursor, created_at = run.waiting_at
        body = {
            "id": event_id(cursor, _IDLE_INDEX),
            "type": "session.status_idle",
            "processed_at": created_at,
            "stop_reason": {"type": "requires_action", "event_ids": list(run.waiting)},
        }
        out.events.append(Translated(cursor, body))
        run.waiting = []
        run.idle = True

    def _resumed(self, out: Out) -> None:
        if self._run.idle:
            self._run.idle = False
            out.add("session.status_running")

    def _close_turn(self, out: Out) -> None:
        turn = self._run.turn
        self._close_thinking(out)
        if turn.start_id is not None:
            out.add(
                "span.model_request_end",
                model_request_start_id=turn.start_id,
                is_error=True,
                model_usage={
                    "input_tokens": 0,
                    "output_tokens": 0,
                    "cache_read_input_tokens": 0,
                    "cache_creation_input_tokens": 0,
                },
            )
            self._run.turn = _Turn()

    def _failed(self, out: Out, event: dict[str, Any]) -> None:
        self._close_turn(out)
        error = event["error"]
        code = error.get("code", "")
        if code in _BUDGET_CODES:
            out.add("session.status_idle", stop_reason={"type": "budget_reached"})
            return
        kind = _MODEL_ERRORS.get(code, "unknown_error")
        out.add("session.error", error=_error(kind, f"{code}: {error.get('message', '')}"))
        out.add("session.status_idle", stop_reason={"type": "retries_exhausted"})


def _error(kind: str, message: str) -> dict[str, Any]:
    return {"type": kind, "message": message, "retry_status": {"type": "terminal"}}
