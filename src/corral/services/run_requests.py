"""What a submitted run is made of: its source (agent or inline spec), spec, keys and metadata.

Shared by every way a run is submitted: `POST /v1/runs`, a session's message, a facade.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.domain import secret_refs
from corral.domain.budgets import resolve_limits
from corral.domain.permissions import Permissions, merge_permissions, parse_permissions
from corral.domain.run_spec import (
    ModelSettings,
    RunEnvironment,
    RunSpec,
    SubagentTool,
    merge_tools,
    parse_skills,
    parse_tool_ref,
)
from corral.domain.subagents import AgentTool
from corral.errors import InvalidRequest
from corral.ids import new_id
from corral.services import agents as agent_service
from corral.services import auth
from corral.services import secrets as secret_service
from corral.services.context import Principal
from corral.storage import agents as agent_store
from corral.tools.registry import resolve_builtins, validate_refs
from corral.types.common import METADATA_MAX_ENTRIES
from corral.types.runs import RunStatus

__all__ = [
    "NewRun",
    "build_spec",
    "merged_metadata",
    "new_run_values",
    "permissions_of",
    "pin_agents",
    "resolve_source",
    "sealed_keys",
    "with_permissions",
]


@dataclass(frozen=True, kw_only=True)
class NewRun:
    """Everything a run is made of, before it is stored."""

    agent_id: str | None
    agent_version: int | None
    spec: RunSpec
    agent_metadata: dict[str, str]


def build_spec(
    ctx: ServiceContext,
    agent_spec: dict[str, Any],
    run_tools: list[dict[str, Any]],
    environment: dict[str, Any] | None = None,
    permissions: Permissions | None = None,
) -> RunSpec:
    """The frozen spec a run executes: model, instructions, tools, environment, limits.

    `agent_spec` is a validated agent spec as stored; `environment` (the run's own) replaces
    the agent's settings it gives; `permissions` (the run's own) are layered over the agent's.
    """
    validate_refs(run_tools)
    entry = ctx.models.resolve(agent_spec["model"])
    merged_environment = {**(agent_spec.get("environment") or {}), **(environment or {})}
    agent_service.check_environment(ctx, merged_environment)
    spec = RunSpec(
        model=entry.id if entry.provider == "corral" else entry.qualified_id,
        instructions=agent_spec.get("instructions", ""),
        tools=merge_tools(
            [parse_tool_ref(ref) for ref in agent_spec.get("tools") or ()],
            [parse_tool_ref(ref) for ref in run_tools],
        ),
        builtin_tools=tuple(resolve_builtins(agent_spec)),
        environment=RunEnvironment.from_json(merged_environment),
        limits=resolve_limits(agent_spec.get("limits") or {}, ctx.defaults),
        model_settings=ModelSettings.from_json(agent_spec.get("model_settings") or {}),
        skills=parse_skills(agent_spec.get("skills") or ()),
        permissions=parse_permissions(agent_spec.get("permissions")),
    )
    return with_permissions(spec, permissions)


def permissions_of(given: Any) -> Permissions | None:
    """A request's `permissions` (a wire model), typed; None when it gives none."""
    return None if given is None else parse_permissions(given.model_dump(mode="json"))


def with_permissions(spec: RunSpec, layer: Permissions | None) -> RunSpec:
    """`spec` with a more specific layer of permissions over its own.

    A client tool cannot be named: the caller that runs it decides.
    """
    merged = spec.permissions if layer is None else merge_permissions([spec.permissions, layer])
    clients = {tool.name for tool in spec.client_tools}
    for name in merged.tools:
        if name in clients:
            raise InvalidRequest(
                f"{name!r} is a client tool: the caller that runs it decides, so it takes no "
                "permission policy",
                field=f"/permissions/tools/{name}",
            )
    for index, rule in enumerate(merged.rules):
        if rule.tool in clients:
            raise InvalidRequest(
                f"{rule.tool!r} is a client tool: the caller that runs it decides, so it takes "
                "no permission rule",
                field=f"/permissions/rules/{index}/tool",
            )
    return replace(spec, permissions=merged)


async def sealed_keys(
    ctx: ServiceContext,
    principal: Principal,
    spec: RunSpec,
    given: dict[str, str] | None,
    *,
    inherited: str | None = None,
    field: str = "/api_keys",
) -> str | None:
    """The provider key a run of `spec` brings, sealed, once the run is known to be able to go.

    It must be able to call its provider and have the secrets it names. Only the key of the
    model's provider is kept (it may be a `${secret:NAME}` reference). `inherited` is a session's
    sealed keys, used when the message brings none. Without one, a workspace secret named like
    the provider's server variable (`ANTHROPIC_API_KEY`) serves.
    """
    entry = ctx.models.resolve(spec.model)
    key = (given or {}).get(entry.provider)
    if key is None and inherited is not None:
        key = ctx.secrets.open(inherited).get(entry.provider)
    references = list(secret_refs.references(spec))
    if key:
        references += [(f"{field}/{entry.provider}", n) for n in secret_refs.names_in(key)]
    await secret_service.check_references(ctx, principal.workspace_id, references)
    if not key:
        workspace_key = ctx.models.key_name(entry)
        if (
            workspace_key is not None
            and not ctx.models.has_key(entry)
            and await secret_service.has_secret(ctx, principal.workspace_id, workspace_key)
        ):
            return None
    ctx.models.check_key(entry, {entry.provider: key} if key else None, field=field)
    return ctx.secrets.seal({entry.provider: key}) if key else None


def merged_metadata(*layers: dict[str, str]) -> dict[str, str]:
    """Layered metadata, still within the per-run limit."""
    merged = run_rules.merge_metadata(*layers)
    if len(merged) > METADATA_MAX_ENTRIES:
        raise InvalidRequest(
            f"the agent's and the run's metadata together have {len(merged)} entries; "
            f"at most {METADATA_MAX_ENTRIES} are allowed",
            field="/metadata",
        )
    return merged


def new_run_values(
    ctx: ServiceContext,
    principal: Principal,
    source: NewRun,
    *,
    run_input: Any,
    metadata: dict[str, str],
    idempotency_key: str | None,
    request_hash: str | None,
    session_id: str | None = None,
) -> dict[str, Any]:
    """The row of a new queued run."""
    return {
        "id": new_id("run"),
        "workspace_id": principal.workspace_id,
        "agent_id": source.agent_id,
        "agent_version": source.agent_version,
        "session_id": session_id,
        "status": RunStatus.QUEUED.value,
        "model": source.spec.model,
        "spec": source.spec.to_json(),
        "input": run_input,
        "metadata": merged_metadata(source.agent_metadata, metadata),
        "idempotency_key": idempotency_key,
        "request_hash": request_hash,
        "created_at": ctx.clock(),
        "key_id": principal.key_id,
    }


async def resolve_source(
    ctx: ServiceContext,
    principal: Principal,
    *,
    agent: str | None,
    agent_version: int | None,
    agent_spec: Any,
    run_tools: list[dict[str, Any]],
    environment: dict[str, Any] | None = None,
    permissions: Permissions | None = None,
) -> NewRun:
    """The agent a new run or session uses, stored or inline."""
    if agent is not None:
        record = await agent_service.find(
            ctx, principal, agent, version=agent_version, field="/agent"
        )
        auth.require_agent_allowed(
            principal, agent_id=record.id, agent_name=record.name, field="/agent"
        )
        agent_service.check_not_archived(record, field="/agent")
        spec = record.spec
        agent_id, version = record.id, record.version
    else:
        auth.require_agent_allowed(principal, agent_id=None, agent_name=None, field="/agent_spec")
        spec = agent_service.validate_spec(ctx, agent_spec, prefix="/agent_spec", inline=True)
        agent_id, version = None, None
    built = build_spec(ctx, spec, run_tools, environment, permissions)
    return NewRun(
        agent_id=agent_id,
        agent_version=version,
        spec=await pin_agents(ctx, principal.workspace_id, built, principal),
        agent_metadata=spec.get("metadata") or {},
    )


async def pin_agents(
    ctx: ServiceContext, workspace_id: str, spec: RunSpec, principal: Principal | None = None
) -> RunSpec:
    """`spec` with each agent tool pinned to its agent's id and current version.

    With a `principal`, its key must be allowed to run each agent it delegates to. The models a
    subagent tool offers must be in the catalog.
    """
    tools = []
    for index, tool in enumerate(spec.tools):
        if isinstance(tool, SubagentTool):
            for position, model in enumerate(tool.models):
                ctx.models.resolve(model, field=f"/tools/{index}/models/{position}")
        if not isinstance(tool, AgentTool) or tool.agent_id is not None:
            tools.append(tool)
            continue
        field = f"/tools/{index}/agent"
        record = await ctx.database.read(agent_store.find, workspace_id, tool.agent)
        if record is None:
            raise InvalidRequest(f"no agent {tool.agent!r} to offer as a tool", field=field)
        if principal is not None:
            auth.require_agent_allowed(
                principal, agent_id=record.id, agent_name=record.name, field=field
            )
        description = tool.description or record.spec.get("description") or ""
        tools.append(
            replace(tool, agent_id=record.id, agent_version=record.version, description=description)
        )
    return replace(spec, tools=tuple(tools))
