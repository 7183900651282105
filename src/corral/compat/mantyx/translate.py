"""Translation rules between Corral and the MANTYX agent-runs protocol, as pure functions.

Events, error codes, model references, agent specs and conversations are mapped here, on plain
data, so the facade's `service` only fetches and stores through Corral's own services. Where the
protocol document and the published SDK disagree, the SDK's reading wins.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote

from corral.compat.mantyx.types import (
    AgentRunCreateParams,
    AgentSpecParams,
    AgentSpecView,
    Budgets,
    ConversationMessage,
    LocalToolParams,
    PluginToolParams,
    ToolParams,
)
from corral.domain.run_spec import BuiltinTool, ClientTool, RunSpec, merge_tools, parse_tool_ref
from corral.errors import InvalidRequest
from corral.ids import kind_of
from corral.types.messages import Message
from corral.types.runs import RunStatus

PLUGIN_PREFIX = "@corral/"
"""Builtin tools are the protocol's plugin tools, named `@corral/<tool>`."""

SUMMARY_MAX_CHARS = 1_000
"""Longest `summary` of a server tool's result in a `tool_result` event."""

_ERROR_CODES = {"unknown_tool_call": "unknown_tool_use"}
_SUBTYPES = {"client_tool_timeout": "local_tool_timeout"}
_AGENT_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def error_code(code: str) -> str:
    """The protocol's name for a Corral error code (most are the same)."""
    return _ERROR_CODES.get(code, code)


def error_body(body: dict[str, Any]) -> dict[str, Any]:
    """A Corral error body in the protocol's shape.

    The protocol puts the code in `error`; the SDK reads it from `code`: both are set.
    """
    code = error_code(str(body["error"]))
    return {**body, "error": code, "code": code}


def result_subtype(code: str) -> str:
    """`subtype` of the `result` event of a run that failed with `code`."""
    return "error_" + _SUBTYPES.get(code, code)


def stream_url(workspace_slug: str, run_id: str) -> str:
    """Path of a run's event stream."""
    return f"/api/v1/workspaces/{quote(workspace_slug, safe='')}/agent-runs/{run_id}/stream"


def model_ref(model_id: str) -> str:
    """The Corral model id of a `modelId`: `provider:<p>:<model>` pins a provider's model."""
    kind, sep, rest = model_id.partition(":")
    if sep and kind == "provider":
        provider, sep, vendor = rest.partition(":")
        if sep and provider and vendor:
            return f"{provider}/{vendor}"
    return model_id


def check_agent_ref(agent_id: str) -> None:
    """Refuse an `agentId` that cannot name an agent (§4.1: malformed is a 400)."""
    malformed = not _AGENT_REF.match(agent_id) or (
        agent_id.startswith("agt_") and kind_of(agent_id) != "agt"
    )
    if malformed:
        raise InvalidRequest(
            f"agentId {agent_id!r} is neither an agent id (agt_…) nor an agent name",
            field="/agentId",
        )


def max_turns(budgets: Budgets | None) -> int | None:
    """Corral's `max_turns` for the protocol's cap of tool turns: one more turn answers."""
    if budgets is None or budgets.max_tool_turns is None:
        return None
    return budgets.max_tool_turns + 1


def tool_refs(tools: Sequence[ToolParams], *, field: str = "/tools") -> list[dict[str, Any]]:
    """Corral tool references of the protocol's tools: local → client, plugin → builtin."""
    refs: list[dict[str, Any]] = []
    for index, tool in enumerate(tools):
        if isinstance(tool, LocalToolParams):
            refs.append(
                {
                    "type": "client",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": tool.parameters,
                }
            )
        elif isinstance(tool, PluginToolParams):
            name = tool.name.removeprefix(PLUGIN_PREFIX)
            if "/" in name or name.startswith("@"):
                raise InvalidRequest(
                    f"Corral has no plugin tool {tool.name!r}: its plugins are its builtin "
                    f"tools, named {PLUGIN_PREFIX}<name>",
                    field=f"{field}/{index}/name",
                )
            refs.append({"type": "builtin", "name": name})
        else:
            raise InvalidRequest(
                f"Corral keeps no workspace tools to reference by id ({tool.id!r}): define the "
                f"tool as a local tool, or use a builtin tool as a plugin ({PLUGIN_PREFIX}<name>)",
                field=f"{field}/{index}",
            )
    return refs


def system_text(params: AgentRunCreateParams) -> str:
    """The `system` messages of a run's input, which extend an inline agent's instructions."""
    return "\n\n".join(m.content for m in params.messages or () if m.role == "system")


def run_input(params: AgentRunCreateParams) -> str | list[dict[str, str]]:
    """Corral's run input: the prompt, or the conversation without its system messages."""
    if params.prompt is not None:
        return params.prompt
    return [
        {"role": m.role, "content": m.content} for m in params.messages or () if m.role != "system"
    ]


def inline_spec(spec: AgentSpecParams, *, model: str, extra_instructions: str) -> dict[str, Any]:
    """Corral's inline agent for an ephemeral agent: only the tools it lists, no builtins."""
    instructions = "\n\n".join(p for p in (spec.system_prompt, extra_instructions) if p)
    limit = max_turns(spec.budgets)
    return {
        "model": model,
        "instructions": instructions,
        "tools": tool_refs(spec.tools),
        "include_builtin_tools": False,
        "limits": {"max_turns": limit} if limit is not None else {},
    }


def overlay(
    stored: dict[str, Any],
    *,
    model: str | None,
    budgets: Budgets | None,
    tools: list[dict[str, Any]],
) -> dict[str, Any] | None:
    """A stored agent's spec with what the request changes, or None when it changes nothing.

    A run can add tools to a stored agent by itself; a different model, a cap of turns, or tools
    that a session must remember need a copy of the agent's spec instead.
    """
    limit = max_turns(budgets)
    changed_model = model is not None and model != stored.get("model")
    if not changed_model and limit is None and not tools:
        return None
    spec = dict(stored)
    if changed_model:
        spec["model"] = model
    if limit is not None:
        spec["limits"] = {**(spec.get("limits") or {}), "max_turns": limit}
    agent_tools = list(spec.get("tools") or ())
    # Refuses a name used twice; the agent spec keeps the references as given.
    merge_tools(
        [parse_tool_ref(ref) for ref in agent_tools], [parse_tool_ref(ref) for ref in tools]
    )
    spec["tools"] = [*agent_tools, *tools]
    return spec


def spec_view(spec: RunSpec, *, agent_id: str | None, metadata: dict[str, str]) -> AgentSpecView:
    """A run's or session's frozen Corral spec, described as the protocol describes agents."""
    tools: list[ToolParams] = []
    named: set[str] = set()
    for ref in spec.tools:
        if isinstance(ref, ClientTool):
            tools.append(
                LocalToolParams(
                    kind="local",
                    name=ref.name,
                    description=ref.description,
                    parameters=ref.schema,
                )
            )
        elif isinstance(ref, BuiltinTool):
            named.add(ref.name)
            tools.append(PluginToolParams(kind="mantyx_plugin", name=PLUGIN_PREFIX + ref.name))
    for name in spec.builtin_tools:
        if name not in named:
            tools.append(PluginToolParams(kind="mantyx_plugin", name=PLUGIN_PREFIX + name))
    turns = spec.limits.max_turns
    return AgentSpecView(
        agent_id=agent_id,
        system_prompt=spec.instructions,
        model_id=spec.model,
        tools=tools,
        budgets=Budgets.model_validate({"maxToolTurns": turns - 1}) if turns else None,
        metadata=metadata,
    )


def spec_outline(spec: RunSpec, *, agent_id: str | None, metadata: dict[str, str]) -> AgentSpecView:
    """What `spec_view` shows of an agent to a key that may not read agents.

    The agent's id, the model and the tags, as Corral's own run and session bodies show them;
    no instructions, tools or budgets.
    """
    return AgentSpecView(agent_id=agent_id, model_id=spec.model, metadata=metadata)


def _text(message: Message) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(block.text for block in message.content if block.type == "text")


def history(messages: Sequence[Message]) -> list[ConversationMessage]:
    """A session's conversation as text turns: tool traffic and thinking are left out."""
    turns = []
    for message in messages:
        text = _text(message)
        if message.role != "tool" and text:
            turns.append(ConversationMessage(role=message.role, content=text))
    return turns


def run_subtype(status: RunStatus, error_code: str | None) -> str | None:
    """The `subtype` of the `result` event a run in `status` ended with, if any."""
    if status == RunStatus.COMPLETED:
        return "success"
    if status in (RunStatus.FAILED, RunStatus.TIMED_OUT):
        return result_subtype(error_code or "run_failed")
    return None


def _summary(document: dict[str, Any]) -> str:
    text = document.get("output") if document.get("ok") else document.get("error")
    text = text or ""
    if len(text) > SUMMARY_MAX_CHARS:
        return text[: SUMMARY_MAX_CHARS - 1] + "…"
    return str(text)


def _tool_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"toolUseId": c["call_id"], "name": c["name"], "args": c["input"]} for c in calls]


def _failed(document: dict[str, Any]) -> dict[str, Any]:
    error = document["error"]
    return {
        "type": "result",
        "subtype": result_subtype(error["code"]),
        "error": error["message"],
        "code": error["code"],
    }


def _local_result(document: dict[str, Any]) -> dict[str, Any]:
    answer = {"type": "local_tool_result_in", "toolUseId": document["call_id"]}
    if document.get("error") is not None:
        return {**answer, "error": document["error"]}
    return {**answer, "result": document.get("output")}


_EVENTS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "run.started": lambda d: {"type": "started", "model": d.get("model")},
    "message.delta": lambda d: {"type": "assistant_delta", "text": d["text"]},
    "thinking.delta": lambda d: {"type": "thinking_delta", "text": d["text"]},
    "message.completed": lambda d: {
        "type": "assistant_message",
        "text": d["text"],
        "toolCalls": _tool_calls(d.get("tool_calls") or []),
    },
    "tool.started": lambda d: {
        "type": "tool_result",
        "phase": "start",
        "toolUseId": d["call_id"],
        "name": d["name"],
        "args": d["input"],
    },
    "tool.completed": lambda d: {
        "type": "tool_result",
        "phase": "end",
        "toolUseId": d["call_id"],
        "name": d["name"],
        "ok": d["ok"],
        "summary": _summary(d),
    },
    "client_tool.call": lambda d: {
        "type": "local_tool_call",
        "toolUseId": d["call_id"],
        "name": d["name"],
        "args": d["input"],
    },
    "client_tool.result": _local_result,
    "usage": lambda d: {
        "type": "usage",
        "inputTokens": d["input_tokens"],
        "outputTokens": d["output_tokens"],
        "costUsd": d["cost_usd"],
    },
    "mcp.unavailable": lambda d: {
        "type": "mcp_unavailable",
        "server": d["server"],
        "reason": d["reason"],
    },
    "run.completed": lambda d: {"type": "result", "subtype": "success", "text": d["output"]},
    "run.failed": _failed,
    "run.timed_out": _failed,
    "run.cancelled": lambda d: {"type": "cancelled", "reason": d.get("reason")},
}


def event(document: dict[str, Any]) -> dict[str, Any] | None:
    """The protocol's event for a Corral event document, or None for a type it has no use for.

    Fields sit at the top level beside `seq` and `type`, where the SDK reads them; the `seq` is
    Corral's, so `Last-Event-ID` and `?lastSeq=` resume from the same log.
    """
    translate = _EVENTS.get(document["type"])
    if translate is None:
        return None
    return {
        "seq": document["seq"],
        **translate(document),
        "runId": document["run_id"],
        "createdAt": document["created_at"],
    }
