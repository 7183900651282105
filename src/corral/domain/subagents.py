"""Subagents: tools that start child runs, limits on a tree of runs, what a child's end says.

Two tool references start children. An agent tool (`{"type": "agent"}`) offers a stored agent
as a tool taking a `task`: the parent waits for the child's end and reads its answer. The
subagent tool (`{"type": "subagent"}`) offers `subagent`, which starts an ad-hoc child (its own
instructions, a model the reference allows, a subset of the parent's builtin tools) and answers
at once with its run id, and `subagent_result`, which waits for a child's end.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from corral.types.errors import ErrorCode
from corral.types.runs import RunStatus

__all__ = [
    "AgentTool",
    "ChildRequest",
    "Refusal",
    "SubagentLimits",
    "SubagentTool",
    "agent_request",
    "child_outcome",
    "parse_agent_tool",
    "parse_subagent_tool",
    "refusal",
    "spawn_request",
]

TASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "task": {
            "type": "string",
            "description": "Everything the agent needs to know to do the task: it sees nothing "
            "else of this conversation.",
        }
    },
    "required": ["task"],
}


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentTool:
    """A stored agent offered as a tool; its version is pinned when the run is submitted."""

    name: str
    agent: str
    """The agent as the reference named it (name or id)."""
    description: str = ""
    agent_id: str | None = None
    agent_version: int | None = None

    @property
    def parameters(self) -> dict[str, Any]:
        """What the model passes: the task."""
        return TASK_SCHEMA

    def to_json(self) -> dict[str, Any]:
        """The reference as stored."""
        return {
            "type": "agent",
            "name": self.name,
            "agent": self.agent,
            "description": self.description,
            "agent_id": self.agent_id,
            "agent_version": self.agent_version,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class SubagentTool:
    """The `subagent` and `subagent_result` tools: ad-hoc children the model defines."""

    name: str = "subagent"
    models: tuple[str, ...] = ()
    """Models a child may use besides the parent's own."""

    @property
    def result_name(self) -> str:
        """The companion tool that waits for a child's end."""
        return f"{self.name}_result"

    def spawn_parameters(self, builtins: Sequence[str]) -> dict[str, Any]:
        """What the model passes to start a child."""
        properties: dict[str, Any] = {
            "prompt": {"type": "string", "description": "The child's task, complete."},
            "instructions": {"type": "string", "description": "The child's system prompt."},
        }
        if self.models:
            properties["model"] = {"type": "string", "enum": list(self.models)}
        if builtins:
            properties["tools"] = {
                "type": "array",
                "items": {"type": "string", "enum": list(builtins)},
                "description": "The child's builtin tools (default: all of this run's).",
            }
        return {"type": "object", "properties": properties, "required": ["prompt"]}

    @property
    def result_parameters(self) -> dict[str, Any]:
        """What the model passes to wait for a child."""
        return {
            "type": "object",
            "properties": {"run_id": {"type": "string"}},
            "required": ["run_id"],
        }

    def to_json(self) -> dict[str, Any]:
        """The reference as stored."""
        return {"type": "subagent", "name": self.name, "models": list(self.models)}


def parse_agent_tool(data: Mapping[str, Any]) -> AgentTool:
    """A stored agent tool reference, typed."""
    return AgentTool(
        name=data["name"],
        agent=data["agent"],
        description=data.get("description") or "",
        agent_id=data.get("agent_id"),
        agent_version=data.get("agent_version"),
    )


def parse_subagent_tool(data: Mapping[str, Any]) -> SubagentTool:
    """A stored subagent tool reference, typed."""
    return SubagentTool(name=data["name"], models=tuple(data.get("models") or ()))


@dataclass(frozen=True, slots=True)
class SubagentLimits:
    """How large a tree of runs may grow (the server's settings)."""

    max_depth: int
    """The deepest a child may be; the root is at depth 0."""
    max_children: int
    """Children one run may start over its life."""
    max_live_per_root: int
    """Runs of one tree, below its root, that may be active at once."""


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a child was not started: the call's error, which the model reads."""

    code: ErrorCode
    message: str

    def text(self) -> str:
        """The tool error, code first, so a model (or a person) can tell limits apart."""
        return f"{self.code.value}: {self.message}"


def refusal(limits: SubagentLimits, *, depth: int, started: int, live: int) -> Refusal | None:
    """Why a run may not start one more child, if it may not.

    It is at `depth`, has `started` children, and its tree has `live` active runs below the root.
    """
    if depth + 1 > limits.max_depth:
        return Refusal(
            ErrorCode.SUBAGENT_DEPTH_EXCEEDED,
            f"this run is at depth {depth}; subagents may be at most {limits.max_depth} deep",
        )
    if started >= limits.max_children:
        return Refusal(
            ErrorCode.SUBAGENT_BREADTH_EXCEEDED,
            f"this run has started {started} subagents, the most one run may start",
        )
    if live >= limits.max_live_per_root:
        return Refusal(
            ErrorCode.SUBAGENT_BREADTH_EXCEEDED,
            f"{live} subagents of this tree are still running, the most at once; wait for some "
            "to end",
        )
    return None


def child_outcome(
    run_id: str, status: RunStatus, output: str | None, error: Mapping[str, Any] | None
) -> tuple[str | None, str | None]:
    """(output, error) of the parent's call, from how its child ended."""
    if status is RunStatus.COMPLETED:
        return output or "", None
    if error:
        return (
            None,
            f"the subagent run {run_id} {status.value}: {error['code']}: {error['message']}",
        )
    return None, f"the subagent run {run_id} {status.value}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildRequest:
    """A child run to start, as the parent's call describes it."""

    input: str
    awaited: bool
    """Whether the parent waits for its end (an agent tool) or goes on (`subagent`)."""
    agent: AgentTool | None = None
    """The stored agent it runs; None for an ad-hoc child."""
    instructions: str = ""
    model: str | None = None
    """An ad-hoc child's model (None: the parent's)."""
    builtin_tools: tuple[str, ...] | None = None
    """An ad-hoc child's builtin tools (None: the parent's)."""


def _invalid(message: str) -> Refusal:
    return Refusal(ErrorCode.INVALID_REQUEST, message)


def agent_request(tool: AgentTool, arguments: Mapping[str, Any]) -> ChildRequest | Refusal:
    """The child an agent tool's call starts."""
    task = arguments.get("task")
    if not isinstance(task, str) or not task.strip():
        return _invalid("'task' must be a non-empty string")
    return ChildRequest(input=task, awaited=True, agent=tool)


def spawn_request(
    tool: SubagentTool, arguments: Mapping[str, Any], *, builtins: Sequence[str]
) -> ChildRequest | Refusal:
    """The ad-hoc child a `subagent` call starts; only what the parent may offer it."""
    prompt, instructions = arguments.get("prompt"), arguments.get("instructions", "")
    if not isinstance(prompt, str) or not prompt.strip():
        return _invalid("'prompt' must be a non-empty string")
    if not isinstance(instructions, str):
        return _invalid("'instructions' must be a string")
    model = arguments.get("model")
    if model is not None and model not in tool.models:
        offered = ", ".join(tool.models) or "none besides this run's own"
        return _invalid(f"model {model!r} is not offered to subagents (offered: {offered})")
    chosen = arguments.get("tools")
    if chosen is not None:
        if not isinstance(chosen, list) or not all(isinstance(name, str) for name in chosen):
            return _invalid("'tools' must be a list of tool names")
        extra = sorted(set(chosen) - set(builtins))
        if extra:
            return _invalid(f"this run cannot give a subagent tools it does not have: {extra}")
    return ChildRequest(
        input=prompt,
        awaited=False,
        instructions=instructions,
        model=model,
        builtin_tools=(
            tuple(name for name in builtins if name in chosen) if chosen is not None else None
        ),
    )
