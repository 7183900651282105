"""A multi-agent roster as Corral tools, and back.

Each stored agent of the roster is a Corral agent tool (its calls are subagent runs, shown as the
session's threads); `inline_agents` enabled is Corral's `subagent` tool, with which the model
starts agents it writes itself. Advisors, workflows and `self` have no Corral equivalent and are
refused, naming the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from corral.compat.anthropic.wire.rosters import (
    Coordinator,
    Multiagent20261001,
    RosterAdvisor,
    RosterAgent,
    RosterEntry,
    RosterSelf,
)
from corral.errors import InvalidRequest


@dataclass(frozen=True, slots=True)
class Member:
    """A roster entry naming a stored agent, and where it was given."""

    agent: str
    version: int | None
    field: str


@dataclass(frozen=True, slots=True)
class Roster:
    """What a `multiagent` asks for."""

    members: list[Member]
    inline: bool
    """Whether the model may start agents it writes itself."""


def _member(entry: RosterEntry, field: str) -> Member:
    if isinstance(entry, str):
        return Member(entry, None, field)
    if isinstance(entry, RosterAgent):
        return Member(entry.id, entry.version, field)
    kind = "advisors" if isinstance(entry, RosterAdvisor) else "self-invocation"
    assert isinstance(entry, RosterAdvisor | RosterSelf)
    raise InvalidRequest(f"{kind} have no equivalent on this server", field=field)


def roster(multiagent: Coordinator | Multiagent20261001 | None) -> Roster:
    """The stored agents a `multiagent` names, and whether inline agents are on."""
    if multiagent is None:
        return Roster([], inline=False)
    if isinstance(multiagent, Coordinator):
        return Roster(
            [_member(e, f"/multiagent/agents/{i}") for i, e in enumerate(multiagent.agents)],
            inline=False,
        )
    for part in ("advisor", "workflows"):
        toggle = getattr(multiagent, part)
        if toggle is not None and toggle.type == "enabled":
            raise InvalidRequest(
                f"{part} have no equivalent on this server", field=f"/multiagent/{part}"
            )
    sub = multiagent.subagents
    if sub is None or sub.type == "disabled":
        return Roster([], inline=False)
    members = [
        _member(e, f"/multiagent/subagents/predefined_agents/{i}")
        for i, e in enumerate(sub.predefined_agents)
    ]
    return Roster(
        members, inline=sub.inline_agents is not None and sub.inline_agents.type == "enabled"
    )


def tool_name(name: str) -> str:
    """A tool name for an agent's name (`Research helper` → `research_helper`)."""
    cleaned = "".join(c if c.isalnum() else "_" for c in name.lower()).strip("_")
    return (cleaned or "agent")[:64]


def roster_tools(members: list[tuple[str, str, str]], *, inline: bool) -> list[dict[str, Any]]:
    """Corral tool refs for resolved members: (agent id, tool name, description) each."""
    tools: list[dict[str, Any]] = [
        {"type": "agent", "agent": agent_id, "name": name, "description": description}
        for agent_id, name, description in members
    ]
    if inline:
        tools.append({"type": "subagent", "name": "subagent"})
    return tools


def is_roster_tool(ref: dict[str, Any]) -> bool:
    """Whether a Corral tool ref is part of a roster (the API shows it in `multiagent`)."""
    return ref.get("type") in ("agent", "subagent")


def multiagent_view(
    tools: list[dict[str, Any]], versions: dict[str, tuple[str, int]]
) -> dict[str, Any] | None:
    """The `multiagent` of a spec's roster tools; `versions` maps a ref's agent to (id, version)."""
    agents = [ref for ref in tools if ref.get("type") == "agent"]
    inline = any(ref.get("type") == "subagent" for ref in tools)
    if not agents and not inline:
        return None
    entries = []
    for ref in agents:
        agent_id, version = versions.get(ref["agent"], (ref.get("agent_id") or ref["agent"], 1))
        entries.append(
            {"type": "agent", "id": agent_id, "version": ref.get("agent_version") or version}
        )
    if not inline:
        return {"type": "coordinator", "agents": entries}
    return {
        "type": "multiagent_20261001",
        "subagents": {
            "type": "enabled",
            "predefined_agents": entries,
            "inline_agents": {"type": "enabled"},
        },
        "advisor": {"type": "disabled"},
        "workflows": {"type": "disabled"},
    }
