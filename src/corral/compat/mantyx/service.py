"""The MANTYX agent-runs protocol as a facade over Corral's agents, runs, sessions and events.

It keeps nothing and executes nothing of its own: each request becomes calls of Corral's
services, so a run started through the protocol is a normal Corral run (listed in `/v1/runs`,
streamed, cancelled and billed like any other). The translation rules are in
`corral.compat.mantyx.translate`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
from pydantic import TypeAdapter

from corral.compat.mantyx import translate
from corral.compat.mantyx.types import (
    Acknowledged,
    AgentRunAccepted,
    AgentRunCreateParams,
    AgentRunSnapshot,
    AgentSessionCreated,
    AgentSessionInfo,
    AgentSessionMessageParams,
    AgentSpecParams,
    AgentSpecView,
    LocalToolCall,
    LocalToolResultParams,
    MantyxModelInfo,
    ModelCatalog,
    ModelPricing,
    RunUsage,
)
from corral.context import ServiceContext
from corral.domain.run_spec import parse_run_spec
from corral.errors import (
    Forbidden,
    InvalidModel,
    InvalidRequest,
    NotFound,
    RunTerminal,
    UnknownToolCall,
)
from corral.providers.catalog import CatalogEntry
from corral.services import agents as agent_service
from corral.services import auth, session_end, tool_results
from corral.services import events as event_service
from corral.services import runs as run_service
from corral.services import sessions as session_service
from corral.services.context import Principal
from corral.storage.agents import AgentRecord
from corral.storage.events import StoredEvent
from corral.tools.registry import validate_refs
from corral.types.agents import AgentSpec
from corral.types.runs import RunCreateParams, RunStatus
from corral.types.sessions import SessionCreateParams, SessionStatus
from corral.types.tools import ToolRef, ToolResultParams

EPHEMERAL_NAME = "ephemeral"
"""The name of sessions of inline agents: Corral keeps no session names."""

_TOOL_REFS: TypeAdapter[list[ToolRef]] = TypeAdapter(list[ToolRef])


def check_workspace(principal: Principal, workspace_slug: str) -> None:
    """Refuse a workspace slug other than the key's workspace name, as if it did not exist."""
    if workspace_slug != principal.workspace_name:
        raise NotFound(f"no workspace {workspace_slug!r} for this API key", field="workspaceSlug")


def _model_id(entry: CatalogEntry) -> str:
    return entry.id if entry.provider == "corral" else entry.qualified_id


def _runnable(ctx: ServiceContext) -> list[CatalogEntry]:
    return [entry for entry in ctx.models.entries() if ctx.models.has_key(entry)]


def list_models(ctx: ServiceContext) -> ModelCatalog:
    """The models this server can run: those whose provider needs no key or has one."""
    models = []
    for entry in _runnable(ctx):
        prices = entry.pricing
        models.append(
            MantyxModelInfo(
                id=_model_id(entry),
                label=f"{entry.model} ({entry.provider})",
                provider=entry.provider,
                vendor_model_id=entry.model,
                source="platform_offering",
                context_window_tokens=entry.context_window,
                pricing=(
                    ModelPricing(
                        input_per_1m_usd=prices.input,
                        output_per_1m_usd=prices.output,
                        cache_read_per_1m_usd=prices.cache_read,
                    )
                    if prices is not None
                    else None
                ),
            )
        )
    default = ctx.models.resolve(ctx.models.default, field="CORRAL_DEFAULT_MODEL")
    return ModelCatalog(models=models, default_model_id=_model_id(default))


def _model(ctx: ServiceContext, model_id: str | None) -> str | None:
    """Corral's id of a `modelId` the server can run (None when none is given)."""
    if model_id is None:
        return None
    entry = ctx.models.resolve(translate.model_ref(model_id), field="/modelId")
    if not ctx.models.has_key(entry):
        raise InvalidModel(
            f"model {model_id!r} needs a key for provider {entry.provider!r}, which this server "
            "does not hold",
            field="/modelId",
            candidates=sorted(_model_id(e) for e in _runnable(ctx)),
        )
    return _model_id(entry)


async def _stored_agent(ctx: ServiceContext, principal: Principal, agent_id: str) -> AgentRecord:
    translate.check_agent_ref(agent_id)
    try:
        return await agent_service.find(ctx, principal, agent_id)
    except NotFound:
        # §4.1: the key's check fires first, so an unknown agent is a refusal, not a 404.
        raise Forbidden(
            f"this API key may not run agent {agent_id!r}: its workspace has no such agent",
            field="/agentId",
        ) from None


def _spec_view(
    principal: Principal,
    stored: dict[str, Any],
    *,
    agent_id: str | None,
    metadata: dict[str, str],
) -> AgentSpecView:
    """A run's or session's agent as the key may see it: in full only with `agents:read`.

    Inline specs are outlined too: a copy of a stored agent (another model or budgets) is
    stored as one.
    """
    spec = parse_run_spec(stored)
    if auth.allows(principal, "agents:read"):
        return translate.spec_view(spec, agent_id=agent_id, metadata=metadata)
    return translate.spec_outline(spec, agent_id=agent_id, metadata=metadata)


def _name(principal: Principal, record: AgentRecord) -> str:
    """A stored agent's name, or its id for a key that may not read agents."""
    return record.name if auth.allows(principal, "agents:read") else record.id


@dataclass(frozen=True, kw_only=True)
class _Source:
    """The Corral agent a request runs: a stored one by id, or an inline spec."""

    agent: str | None = None
    agent_spec: AgentSpec | None = None
    run_tools: list[dict[str, Any]] = field(default_factory=list)
    name: str = EPHEMERAL_NAME


async def _source(
    ctx: ServiceContext,
    principal: Principal,
    spec: AgentSpecParams,
    *,
    extra_instructions: str = "",
    for_session: bool = False,
) -> _Source:
    refs = translate.tool_refs(spec.tools)
    validate_refs(refs, field="/tools")
    model = _model(ctx, spec.model_id)
    if spec.agent_id is None:
        inline = translate.inline_spec(
            spec, model=model or ctx.models.default, extra_instructions=extra_instructions
        )
        return _Source(agent_spec=AgentSpec.model_validate(inline))
    record = await _stored_agent(ctx, principal, spec.agent_id)
    # A run takes extra tools by itself; a session remembers only the tools of its agent spec.
    changed = translate.overlay(
        record.spec, model=model, budgets=spec.budgets, tools=refs if for_session else []
    )
    run_tools = [] if for_session else refs
    if changed is None:
        return _Source(agent=record.id, run_tools=run_tools, name=_name(principal, record))
    if any(cap is not None for cap in (record.spec.get("spend_limits") or {}).values()):
        # A copy runs as an inline agent, whose spend would not count against the agent's caps.
        raise InvalidRequest(
            f"agent {spec.agent_id!r} caps its spend (spend_limits), so its runs must use it as "
            "stored: leave out modelId and budgets (and a session's extra tools)",
            field="/agentId",
        )
    return _Source(agent_spec=AgentSpec.model_validate(changed), run_tools=run_tools)


async def create_run(
    ctx: ServiceContext, principal: Principal, workspace_slug: str, params: AgentRunCreateParams
) -> AgentRunAccepted:
    """Submit a one-shot run."""
    source = await _source(ctx, principal, params, extra_instructions=translate.system_text(params))
    run, _ = await run_service.create(
        ctx,
        principal,
        RunCreateParams.model_validate(
            {
                "agent": source.agent,
                "agent_spec": source.agent_spec,
                "input": translate.run_input(params),
                "tools": source.run_tools,
                "metadata": params.metadata,
            }
        ),
    )
    return AgentRunAccepted(run_id=run.id, stream_url=translate.stream_url(workspace_slug, run.id))


async def get_run(ctx: ServiceContext, principal: Principal, run_id: str) -> AgentRunSnapshot:
    """The run as it stands."""
    record = await run_service.find(ctx, principal, run_id)
    run = await run_service.view(ctx, record)
    error = run.error
    return AgentRunSnapshot(
        run_id=run.id,
        session_id=run.session,
        status=run.status.value,
        subtype=translate.run_subtype(run.status, error.code if error else None),
        text=run.output,
        error=error.message if error else None,
        error_code=error.code if error else None,
        pending_local_tool_calls=[
            LocalToolCall(tool_use_id=call.call_id, name=call.name, args=call.input)
            for call in run.pending_tool_calls
        ],
        agent_spec=_spec_view(principal, record.spec, agent_id=run.agent, metadata=run.metadata),
        metadata=run.metadata,
        usage=RunUsage(
            input_tokens=run.usage.input_tokens,
            output_tokens=run.usage.output_tokens,
            cost_usd=run.usage.cost_usd,
        ),
        created_at=run.created_at,
        started_at=run.started_at,
        ended_at=run.ended_at,
    )


async def follow_run(
    ctx: ServiceContext, principal: Principal, run_id: str, *, after: int
) -> AsyncIterator[list[StoredEvent] | None]:
    """The run's events after `after` as the protocol's events, live, through the terminal one.

    None marks a heartbeat, as in `services.events.follow_run`.
    """
    return _translated(await event_service.follow_run(ctx, principal, run_id, after=after))


async def _translated(
    batches: AsyncIterator[list[StoredEvent] | None],
) -> AsyncIterator[list[StoredEvent] | None]:
    # The batches come from an async generator, typed as a plain iterator.
    async with contextlib.aclosing(batches):  # type: ignore[type-var]
        async for batch in batches:
            if batch is None:
                yield None
                continue
            frames = []
            for stored in batch:
                translated = translate.event(orjson.loads(stored.data))
                if translated is not None:
                    data = orjson.dumps(translated).decode()
                    frames.append(StoredEvent(seq=stored.seq, type=translated["type"], data=data))
            if frames:
                yield frames


async def submit_tool_result(
    ctx: ServiceContext, principal: Principal, run_id: str, params: LocalToolResultParams
) -> Acknowledged:
    """Answer a local tool call; after a cancellation the answer is accepted and ignored (§9)."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:write")
    record = await run_service.find(ctx, principal, run_id)
    if record.status == RunStatus.CANCELLED:
        return Acknowledged()
    answer = ToolResultParams(call_id=params.tool_use_id, output=params.result, error=params.error)
    try:
        await tool_results.submit(ctx, principal, run_id, answer)
    except RunTerminal:
        record = await run_service.find(ctx, principal, run_id)
        if record.status == RunStatus.CANCELLED:
            return Acknowledged()
        raise
    except UnknownToolCall as error:
        raise UnknownToolCall(error.message, field="/toolUseId") from None
    return Acknowledged()


async def cancel_run(ctx: ServiceContext, principal: Principal, run_id: str) -> Acknowledged:
    """Cancel the run (idempotent: an ended run keeps its status)."""
    await run_service.cancel(ctx, principal, run_id)
    return Acknowledged()


async def create_session(
    ctx: ServiceContext, principal: Principal, params: AgentSpecParams
) -> AgentSessionCreated:
    """Open a session; its agent spec, tools included, is kept for all its messages."""
    source = await _source(ctx, principal, params, for_session=True)
    session = await session_service.create(
        ctx,
        principal,
        SessionCreateParams.model_validate(
            {"agent": source.agent, "agent_spec": source.agent_spec, "metadata": params.metadata}
        ),
    )
    return AgentSessionCreated(
        session_id=session.id, name=source.name, created_at=session.created_at
    )


async def _agent_name(ctx: ServiceContext, principal: Principal, agent_id: str | None) -> str:
    if agent_id is None:
        return EPHEMERAL_NAME
    try:
        return _name(principal, await agent_service.find(ctx, principal, agent_id))
    except NotFound:
        return EPHEMERAL_NAME  # the agent was deleted since


async def get_session(
    ctx: ServiceContext, principal: Principal, session_id: str
) -> AgentSessionInfo:
    """The session, its conversation and its metadata."""
    row = await session_service.find(ctx, principal, session_id)
    session = await session_service.view(ctx, row)
    return AgentSessionInfo(
        id=session.id,
        name=await _agent_name(ctx, principal, session.agent),
        status="ended" if session.status == SessionStatus.ENDED else "active",
        created_at=session.created_at,
        last_used_at=session.updated_at,
        ended_at=row["ended_at"],
        agent_spec=_spec_view(
            principal, row["spec"], agent_id=session.agent, metadata=session.metadata
        ),
        messages=translate.history(session.messages),
        metadata=session.metadata,
    )


async def send_message(
    ctx: ServiceContext,
    principal: Principal,
    workspace_slug: str,
    session_id: str,
    params: AgentSessionMessageParams,
) -> AgentRunAccepted:
    """Queue the session's next message as a run."""
    tools: list[dict[str, Any]] = []
    if params.tools:
        refs = translate.tool_refs(params.tools)
        validate_refs(refs, field="/tools")
        session = await session_service.find(ctx, principal, session_id)
        known = {ref.name for ref in parse_run_spec(session["spec"]).tools}
        tools = [ref for ref in refs if ref["name"] not in known]
    run, _ = await session_service.send(
        ctx,
        principal,
        session_id,
        run_input=params.prompt,
        tools=_TOOL_REFS.validate_python(tools),
        metadata=params.metadata,
        idempotency_key=None,
    )
    return AgentRunAccepted(run_id=run.id, stream_url=translate.stream_url(workspace_slug, run.id))


async def end_session(ctx: ServiceContext, principal: Principal, session_id: str) -> Acknowledged:
    """End the session and cancel its queued and active runs (idempotent)."""
    await session_end.end(ctx, principal, session_id)
    return Acknowledged()
