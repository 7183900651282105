"""Sessions: a conversation with one agent whose messages run one at a time, in order."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.domain import spend_caps as spend_rules
from corral.domain.permissions import Permissions
from corral.domain.run_spec import merge_tools, parse_run_spec, parse_tool_ref
from corral.errors import (
    Conflict,
    IdempotencyConflict,
    InvalidRequest,
    SessionEnded,
    SpendLimitReached,
)
from corral.ids import new_id
from corral.observability import metrics
from corral.pubsub.base import QUEUE_CHANNEL
from corral.services import agents as agent_service
from corral.services import audit, auth, run_requests, session_end, session_views, spend_caps
from corral.services import environments as environment_service
from corral.services import files as file_service
from corral.services import runs as run_service
from corral.services import vaults as vault_service
from corral.services.audit import Actor
from corral.services.context import Principal
from corral.services.session_views import find, get, view
from corral.storage import runs as run_store
from corral.storage import sessions as session_store
from corral.storage import vaults as vault_store
from corral.storage.database import Connection
from corral.storage.runs import RunRecord
from corral.tools.registry import validate_refs
from corral.types.common import Page
from corral.types.errors import ErrorCode
from corral.types.runs import Run
from corral.types.sessions import (
    Session,
    SessionCreateParams,
    SessionSummary,
    SessionUpdateParams,
)
from corral.types.tools import ToolRef

__all__ = [
    "archive",
    "create",
    "find",
    "get",
    "list_sessions",
    "send",
    "set_vaults",
    "update",
    "view",
]


def _check_priced(ctx: ServiceContext, model: str, cap_usd: float | None) -> None:
    """Refuse a session cap on a model whose spend cannot be counted."""
    if cap_usd is not None and ctx.models.resolve(model).pricing is None:
        raise InvalidRequest(
            f"the model {model!r} has no price in the catalog, so a spend cap cannot be kept; "
            "remove max_spend_usd or give the model prices (CORRAL_MODEL_CATALOG)",
            field="/max_spend_usd",
            code=ErrorCode.MODEL_NOT_PRICED,
        )


async def create(
    ctx: ServiceContext,
    principal: Principal,
    params: SessionCreateParams,
    *,
    session_id: str | None = None,
    vault_ids: Sequence[str] = (),
) -> Session:
    """Open an idle session; with `session_id`, opening it again answers with it.

    A stored environment's config (`environment_id`) replaces the agent's environment for every
    run of the session; an archived agent or environment is refused. The credentials of the
    vaults `vault_ids` are given to each of its messages (see `services.vaults`).
    """
    environment = None
    if params.environment_id is not None:
        environment = await environment_service.config_for_session(
            ctx, principal, params.environment_id
        )
    source = await run_requests.resolve_source(
        ctx,
        principal,
        agent=params.agent,
        agent_version=params.agent_version,
        agent_spec=params.agent_spec,
        run_tools=[],
        environment=environment,
        permissions=run_requests.permissions_of(params.permissions),
    )
    _check_priced(ctx, source.spec.model, params.max_spend_usd)
    if params.files:
        inputs = file_service.SessionInputs(params.files)
        await file_service.check_run_files(ctx, principal, inputs)
        files, _ = file_service.run_inputs(inputs)
        source = replace(source, spec=replace(source.spec, files=files))
    if vault_ids:
        await vault_service.check_for_session(ctx, principal, vault_ids, source.spec)
    now = ctx.clock()
    if session_id is not None:
        existing = await ctx.database.read(session_store.get, principal.workspace_id, session_id)
        if existing is not None:
            return await view(ctx, existing)
    session_id = session_id or new_id("ses")
    await ctx.database.write(
        _insert,
        {
            "id": session_id,
            "workspace_id": principal.workspace_id,
            "agent_id": source.agent_id,
            "agent_version": source.agent_version,
            "spec": {**source.spec.to_json(), "agent_metadata": source.agent_metadata},
            "metadata": params.metadata,
            "created_at": now,
            "updated_at": now,
            "max_spend_usd": params.max_spend_usd,
            "title": params.title,
            "environment_id": params.environment_id,
            "api_keys": await run_requests.sealed_keys(
                ctx, principal, source.spec, params.api_keys
            ),
        },
        vault_ids,
    )
    return await get(ctx, principal, session_id)


def _insert(conn: Connection, values: dict[str, Any], vault_ids: Sequence[str]) -> None:
    """Store a new session with the vaults it uses."""
    session_store.insert(conn, values)
    vault_store.set_session_vaults(conn, values["id"], vault_ids)


async def list_sessions(
    ctx: ServiceContext,
    principal: Principal,
    *,
    limit: int,
    cursor: str | None,
    include_archived: bool = True,
) -> Page[SessionSummary]:
    """Sessions newest first (without the archived ones, unless `include_archived`)."""

    def read(conn: Connection) -> tuple[list[Any], set[str]]:
        rows = session_store.list_page(
            conn,
            principal.workspace_id,
            limit=limit + 1,
            before_id=cursor,
            include_archived=include_archived,
        )
        return rows, session_store.busy_among(conn, [r["id"] for r in rows])

    rows, busy = await ctx.database.read(read)
    page = session_views.summaries(rows[:limit], busy)
    return Page(data=page, next_cursor=page[-1].id if len(rows) > limit else None)


async def send(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    *,
    run_input: Any,
    tools: list[ToolRef],
    metadata: dict[str, str],
    idempotency_key: str | None,
    api_keys: dict[str, str] | None = None,
    permissions: Permissions | None = None,
) -> tuple[Run, bool]:
    """Queue the next message of the session as a run; it starts when the ones before end.

    The run uses the provider keys it brings, else the session's. It takes `sessions:write`,
    whichever route sends it.
    """
    auth.require_session_scope(principal, session_id, "sessions:write")
    row = await _find_open(ctx, principal, session_id)
    extra_tools = [tool.model_dump(mode="json") for tool in tools]
    validate_refs(extra_tools)
    stored = parse_run_spec(row["spec"])
    spec = replace(
        stored, tools=merge_tools(stored.tools, [parse_tool_ref(ref) for ref in extra_tools])
    )
    spec = run_requests.with_permissions(spec, permissions)
    spec = await run_requests.pin_agents(ctx, principal.workspace_id, spec, principal)
    spec = await vault_service.apply_to_session(ctx, principal.workspace_id, session_id, spec)
    request = {
        "session": session_id,
        "input": run_input if isinstance(run_input, str) else [m.model_dump() for m in run_input],
        "tools": extra_tools,
        "metadata": metadata,
    }
    if permissions:
        request["permissions"] = permissions.to_json()
    request_hash = run_rules.fingerprint(request) if idempotency_key else None
    source = run_requests.NewRun(
        agent_id=row["agent_id"],
        agent_version=row["agent_version"],
        spec=spec,
        agent_metadata=row["spec"].get("agent_metadata") or {},
    )
    values = run_requests.new_run_values(
        ctx,
        principal,
        source,
        run_input=request["input"],
        metadata=run_rules.merge_metadata(row["metadata"], metadata),
        idempotency_key=idempotency_key,
        request_hash=request_hash,
        session_id=session_id,
    )
    values["api_keys"] = await run_requests.sealed_keys(
        ctx, principal, spec, api_keys, inherited=row["api_keys"]
    )
    replay = await _check_spend(ctx, principal, row, spec.model, idempotency_key, request_hash)
    if replay is not None:
        return await run_service.get(ctx, principal, replay.id), False

    try:
        existing = await ctx.database.write(
            _queue_message, principal.workspace_id, session_id, values
        )
    except Conflict as conflict:
        if not idempotency_key or isinstance(conflict, (IdempotencyConflict, SessionEnded)):
            raise
        existing = await ctx.database.read(
            run_service.previous_run, principal.workspace_id, idempotency_key, request_hash
        )
        if existing is None:
            raise
    if existing is not None:
        return await run_service.get(ctx, principal, existing.id), False
    await ctx.broker.publish(QUEUE_CHANNEL)
    metrics.RUNS_CREATED.inc()
    return await run_service.get(ctx, principal, values["id"]), True


async def _find_open(ctx: ServiceContext, principal: Principal, session_id: str) -> Any:
    """The row of a session that has not ended and whose agent the key may run."""
    row = await find(ctx, principal, session_id)
    if row["archived_at"] is not None:
        raise SessionEnded(f"session {session_id} is archived")
    if row["ended_at"] is not None:
        raise SessionEnded(f"session {session_id} has ended")
    if principal.agents is not None:
        agent = (
            None
            if row["agent_id"] is None
            else await agent_service.find(
                ctx, principal, row["agent_id"], version=None, field="/session"
            )
        )
        auth.require_agent_allowed(
            principal,
            agent_id=row["agent_id"],
            agent_name=agent.name if agent else None,
            field="/session",
        )
    return row


async def _check_spend(
    ctx: ServiceContext,
    principal: Principal,
    row: Any,
    model: str,
    idempotency_key: str | None,
    request_hash: str | None,
) -> RunRecord | None:
    """Refuse a message past a spend cap (the session's, its agent's, the workspace's).

    A replay of a message accepted before the cap was reached gets its run back instead.
    """
    try:
        await spend_caps.check_submit(
            ctx,
            principal,
            model=model,
            agent_id=row["agent_id"],
            session=spend_rules.session_cap(row["id"], row["max_spend_usd"]),
        )
    except SpendLimitReached:
        replay = None
        if idempotency_key:
            replay = await ctx.database.read(
                run_service.previous_run, principal.workspace_id, idempotency_key, request_hash
            )
        if replay is None:
            raise
        return replay
    return None


async def update(
    ctx: ServiceContext,
    principal: Principal,
    session_id: str,
    params: SessionUpdateParams,
    *,
    actor: Actor,
) -> Session:
    """Change the fields given of a session that has not ended.

    Raising the spend cap past its spend lets a stopped session go on; a change of the cap is
    in the audit log (`session.limits_changed`).
    """
    row = await _find_open(ctx, principal, session_id)
    given = params.model_fields_set
    values: dict[str, Any] = {}
    if "max_spend_usd" in given:
        _check_priced(ctx, parse_run_spec(row["spec"]).model, params.max_spend_usd)
        values["max_spend_usd"] = params.max_spend_usd
    if "title" in given:
        values["title"] = params.title
    if "metadata" in given:
        values["metadata"] = params.metadata or {}
    if not values:
        return await get(ctx, principal, session_id)
    now = ctx.clock()

    def tx(conn: Connection) -> bool:
        if not session_store.change(conn, principal.workspace_id, session_id, values, now):
            return False
        if "max_spend_usd" in values:
            audit.record(
                conn,
                actor,
                "session.limits_changed",
                workspace_id=principal.workspace_id,
                target_id=session_id,
                now=now,
                details={"max_spend_usd": params.max_spend_usd},
            )
        return True

    if not await ctx.database.write(tx):
        raise SessionEnded(f"session {session_id} has ended")
    return await get(ctx, principal, session_id)


async def set_vaults(
    ctx: ServiceContext, principal: Principal, session_id: str, vault_ids: Sequence[str]
) -> None:
    """Give the session these vaults, in this order, in place of its own, from its next message."""
    row = await _find_open(ctx, principal, session_id)
    await vault_service.check_for_session(ctx, principal, vault_ids, parse_run_spec(row["spec"]))
    await ctx.database.write(vault_store.set_session_vaults, session_id, vault_ids)


async def archive(ctx: ServiceContext, principal: Principal, session_id: str) -> Session:
    """Archive the session: end it as `DELETE` does (cancelling its runs), and mark it archived.

    An archived session takes no more messages; archiving it again changes nothing.
    """
    return await session_end.end(ctx, principal, session_id, archive=True)


def _queue_message(
    conn: Connection, workspace_id: str, session_id: str, values: dict[str, Any]
) -> RunRecord | None:
    """Insert the message's run at the session's next position (or find its idempotent twin)."""
    if values["idempotency_key"]:
        existing = run_service.previous_run(
            conn, workspace_id, values["idempotency_key"], values["request_hash"]
        )
        if existing is not None:
            return existing
    current = session_store.get(conn, workspace_id, session_id)
    position = None
    if current is not None:
        position = session_store.next_position(conn, session_id, values["created_at"])
    if position is None:
        raise SessionEnded(f"session {session_id} has ended")
    values["session_position"] = position
    run_store.insert(conn, values)
    return None
