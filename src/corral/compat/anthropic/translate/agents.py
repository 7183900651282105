"""An agent of the API as a Corral agent spec, and a Corral agent spec as the API's agent.

The mapping is total from Corral's side: any stored agent can be shown. A Corral agent made
through `/v1` with tools the API has no word for (agent tools, local MCP servers) shows the
tools that map; `docs/anthropic.md` lists the rules.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from corral.compat.anthropic.translate import rosters, skills
from corral.compat.anthropic.wire.agents import (
    AGENT_TOOL_NAMES,
    AgentCreate,
    AgentObject,
    AgentToolConfig,
    AgentToolset,
    CustomTool,
    McpServer,
    McpToolset,
    ModelConfig,
    ModelView,
    PermissionPolicy,
)
from corral.errors import InvalidRequest
from corral.types.skills import SkillVersion

UNMAPPED_TOOLS = frozenset({"web_search"})
"""Builtin tools of the API Corral has no equivalent of: left out when enabled by default,
refused when a config enables one by name."""

_TO_CORRAL = {"always_allow": "allow", "always_ask": "ask", "auto": "ask"}
_FROM_CORRAL = {"allow": "always_allow", "ask": "always_ask", "deny": "always_ask"}
TOOLSET_POLICY = "always_allow"
"""The builtin tools' policy when none is given, as in the API."""
MCP_POLICY = "always_ask"
"""An MCP toolset's policy when none is given, as in the API."""


def model_id(model: str | ModelConfig) -> str:
    """The Corral model id an agent's `model` names."""
    return model if isinstance(model, str) else model.id


def _policy(policy: PermissionPolicy | None, fallback: str) -> str:
    return _TO_CORRAL[policy.type if policy is not None else fallback]


def _toolset(toolset: AgentToolset, index: int, permissions: dict[str, str]) -> list[str]:
    """The Corral builtin tools the toolset enables; their policies go into `permissions`."""
    default = toolset.default_config
    default_on = default is None or default.enabled is not False
    default_policy = default.permission_policy if default is not None else None
    configs: dict[str, tuple[int, AgentToolConfig | None]] = {}
    for position, given in enumerate(toolset.configs):
        if given.name is not None and given.name != given.type:
            raise InvalidRequest(
                f"a tool config's name {given.name!r} differs from its type {given.type!r}",
                field=f"/tools/{index}/configs/{position}/name",
            )
        configs[given.type] = (position, given)
    enabled = []
    for name in AGENT_TOOL_NAMES:
        position, config = configs.get(name, (-1, None))
        on = default_on if config is None or config.enabled is None else config.enabled
        if not on:
            continue
        if name in UNMAPPED_TOOLS:
            if config is not None:
                raise InvalidRequest(
                    f"Corral has no {name} tool: disable it or leave it to the default",
                    field=f"/tools/{index}/configs/{position}",
                )
            continue
        enabled.append(name)
        chosen = config.permission_policy if config is not None else None
        permissions[name] = _policy(chosen or default_policy, TOOLSET_POLICY)
    return enabled


def _mcp_ref(toolset: McpToolset, server: McpServer, permissions: dict[str, str]) -> dict[str, Any]:
    default = toolset.default_config
    default_on = default is None or default.enabled is not False
    permissions[server.name] = _policy(
        default.permission_policy if default is not None else None, MCP_POLICY
    )
    allowed = []
    for config in toolset.configs:
        qualified = f"{server.name}__{config.name}"
        on = default_on if config.enabled is None else config.enabled
        if on:
            allowed.append(config.name)
            if config.permission_policy is not None:
                permissions[qualified] = _policy(config.permission_policy, MCP_POLICY)
        elif default_on:
            permissions[qualified] = "deny"
    ref: dict[str, Any] = {"type": "mcp", "name": server.name, "url": server.url}
    if not default_on:
        ref["tools"] = allowed
    return ref


@dataclass(frozen=True, slots=True)
class SpecParts:
    """The parts of a Corral agent spec the API's `tools` and `mcp_servers` decide."""

    tools: list[dict[str, Any]]
    include_builtin_tools: bool
    builtin_tools: list[str] | None
    permissions: dict[str, Any]


def spec_parts(tools: list[Any], mcp_servers: list[McpServer]) -> SpecParts:
    """Corral's tools, builtin tools and permissions for an agent's `tools` and `mcp_servers`."""
    servers: dict[str, McpServer] = {}
    for index, server in enumerate(mcp_servers):
        if server.name in servers:
            raise InvalidRequest(
                f"two MCP servers are named {server.name!r}", field=f"/mcp_servers/{index}/name"
            )
        servers[server.name] = server
    refs: list[dict[str, Any]] = []
    policies: dict[str, str] = {}
    builtin: list[str] | None = None
    used: set[str] = set()
    for index, tool in enumerate(tools):
        if isinstance(tool, AgentToolset):
            if builtin is not None:
                raise InvalidRequest("give the agent toolset once", field=f"/tools/{index}")
            builtin = _toolset(tool, index, policies)
        elif isinstance(tool, McpToolset):
            found = servers.get(tool.mcp_server_name)
            if found is None:
                raise InvalidRequest(
                    f"no MCP server is named {tool.mcp_server_name!r} in mcp_servers",
                    field=f"/tools/{index}/mcp_server_name",
                )
            used.add(found.name)
            refs.append(_mcp_ref(tool, found, policies))
        else:
            assert isinstance(tool, CustomTool)
            schema = tool.input_schema.model_dump(exclude_none=True)
            refs.append(
                {
                    "type": "client",
                    "name": tool.name,
                    "description": tool.description,
                    "parameters": schema,
                }
            )
    for index, server in enumerate(mcp_servers):
        if server.name not in used:
            raise InvalidRequest(
                f"MCP server {server.name!r} is not used by any mcp_toolset in tools",
                field=f"/mcp_servers/{index}",
            )
    return SpecParts(
        tools=refs,
        include_builtin_tools=builtin is not None,
        builtin_tools=builtin,
        permissions={"tools": policies},
    )


def refuse_unmapped(body: AgentCreate | Any) -> None:
    """Refuse the parts of an agent Corral does not map yet, naming them."""
    identity = getattr(body, "execution_identity", None)
    if identity is not None and identity.type != "service_account":
        raise InvalidRequest(
            "runs act as the API key that starts them: only service_account is supported",
            field="/execution_identity",
        )


def _policy_view(corral_policy: str | None, fallback: str) -> dict[str, str]:
    return {"type": _FROM_CORRAL[corral_policy] if corral_policy else fallback}


def tools_view(spec: dict[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A stored spec's tools and MCP servers as the API shows them."""
    permissions = spec.get("permissions") or {}
    policies: dict[str, str] = permissions.get("tools") or {}
    default = permissions.get("default")
    tools: list[dict[str, Any]] = []
    servers: list[dict[str, Any]] = []
    if spec.get("include_builtin_tools", True):
        chosen = spec.get("builtin_tools")
        configs = [
            {
                "type": name,
                "name": name,
                "enabled": name not in UNMAPPED_TOOLS and (chosen is None or name in chosen),
                "permission_policy": _policy_view(policies.get(name) or default, TOOLSET_POLICY),
            }
            for name in AGENT_TOOL_NAMES
        ]
        tools.append(
            {
                "type": "agent_toolset_20260401",
                "default_config": {
                    "enabled": False,
                    "permission_policy": _policy_view(default, TOOLSET_POLICY),
                },
                "configs": configs,
            }
        )
    for ref in spec.get("tools") or []:
        if ref.get("type") == "client":
            schema = ref.get("parameters") or {"type": "object"}
            tools.append(
                {
                    "type": "custom",
                    "name": ref["name"],
                    "description": ref.get("description") or "",
                    "input_schema": {"type": "object", **schema},
                }
            )
        elif ref.get("type") == "mcp" and ref.get("url"):
            name = ref["name"]
            servers.append({"type": "url", "name": name, "url": ref["url"]})
            allowed = ref.get("tools")
            prefix = f"{name}__"
            tools.append(
                {
                    "type": "mcp_toolset",
                    "mcp_server_name": name,
                    "default_config": {
                        "enabled": allowed is None,
                        "permission_policy": _policy_view(policies.get(name), MCP_POLICY),
                    },
                    "configs": [
                        {
                            "name": tool,
                            "enabled": policy != "deny",
                            "permission_policy": _policy_view(policy, MCP_POLICY),
                        }
                        for key, policy in policies.items()
                        if key.startswith(prefix) and (tool := key[len(prefix) :])
                    ]
                    + [
                        {
                            "name": tool,
                            "enabled": True,
                            "permission_policy": _policy_view(policies.get(name), MCP_POLICY),
                        }
                        for tool in allowed or []
                        if f"{prefix}{tool}" not in policies
                    ],
                }
            )
    return tools, servers


def agent_view(
    *,
    agent_id: str,
    name: str,
    version: int,
    spec: dict[str, Any],
    created_at: datetime,
    updated_at: datetime,
    archived_at: datetime | None,
    versions: dict[str, tuple[str, int]],
    skill_versions: Mapping[str, SkillVersion] | None = None,
) -> AgentObject:
    """A stored Corral agent, at one version, as the API's agent.

    `versions` gives the id and latest version of each agent of its roster; `skill_versions`
    the skill version each of its skill archives is.
    """
    tools, servers = tools_view(spec)
    return AgentObject(
        id=agent_id,
        version=version,
        name=name,
        description=spec.get("description") or None,
        model=ModelView(id=spec["model"]),
        system=spec.get("instructions") or None,
        tools=tools,
        mcp_servers=servers,
        skills=skills.skills_view(spec.get("skills") or [], skill_versions or {}),
        metadata=spec.get("metadata") or {},
        multiagent=rosters.multiagent_view(spec.get("tools") or [], versions),
        created_at=created_at,
        updated_at=updated_at,
        archived_at=archived_at,
    )


def running_agent_view(
    spec: dict[str, Any], *, name: str, skills: list[dict[str, Any]]
) -> dict[str, Any]:
    """The fields of an agent as a session or thread runs it (its spec as stored there)."""
    tools, servers = tools_view(spec)
    return {
        "name": name,
        "description": spec.get("description") or None,
        "model": {"id": spec["model"], "speed": "standard"},
        "system": spec.get("instructions") or None,
        "tools": tools,
        "mcp_servers": servers,
        "skills": skills,
        "execution_identity": {"type": "service_account"},
    }
