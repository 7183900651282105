"""Client tool results: the caller answers a call the model made, and the run resumes."""

from __future__ import annotations

from typing import Any

from corral.context import ServiceContext
from corral.domain import secret_refs
from corral.domain.redaction import Redactor
from corral.domain.run_spec import parse_run_spec
from corral.errors import NotFound, RunTerminal, UnknownToolCall
from corral.pubsub.base import control_channel
from corral.services import auth
from corral.services import secrets as secret_service
from corral.services.context import Principal
from corral.storage import runs as run_store
from corral.storage import tool_calls as tool_call_store
from corral.storage.database import Connection
from corral.types.runs import TERMINAL_STATUSES
from corral.types.tools import ToolResultAccepted, ToolResultParams


def _submit_tx(
    conn: Connection,
    workspace_id: str,
    run_id: str,
    params: ToolResultParams,
    now: Any,
) -> None:
    status = run_store.get_status_in(conn, workspace_id, run_id)
    if status is None:
        raise NotFound(f"no run {run_id!r}")
    if status in TERMINAL_STATUSES:
        raise RunTerminal(f"run {run_id} has already ended ({status})")
    if not tool_call_store.answer(
        conn, run_id, params.call_id, output=params.output, error=params.error, now=now
    ):
        raise UnknownToolCall(
            f"run {run_id} has no pending tool call {params.call_id!r}", field="/call_id"
        )


async def submit(
    ctx: ServiceContext, principal: Principal, run_id: str, params: ToolResultParams
) -> ToolResultAccepted:
    """Store the result and wake the run's worker."""
    await auth.require_run_session_scope(ctx, principal, run_id, "sessions:write")
    params = await _redacted(ctx, principal.workspace_id, run_id, params)
    await ctx.database.write(_submit_tx, principal.workspace_id, run_id, params, ctx.clock())
    await ctx.broker.publish(control_channel(run_id), "tool_result")
    return ToolResultAccepted(run_id=run_id, call_id=params.call_id)


async def _redacted(
    ctx: ServiceContext, workspace_id: str, run_id: str, params: ToolResultParams
) -> ToolResultParams:
    """The result with the values of the secrets the run names redacted.

    A caller's tool may echo them as well as the run's own tools. Costs nothing in a workspace
    without secrets.
    """
    vault = await ctx.vault.sealed(ctx.database, workspace_id)
    if not vault:
        return params
    run = await ctx.database.read(run_store.get, workspace_id, run_id)
    if run is None:
        return params  # refused in the transaction
    names = {name for _, name in secret_refs.references(parse_run_spec(run.spec))} & vault.keys()
    if not names:
        return params
    redactor = Redactor(await secret_service.reveal(ctx, workspace_id, names))
    return params.model_copy(
        update={
            "output": None if params.output is None else redactor.text(params.output),
            "error": None if params.error is None else redactor.text(params.error),
        }
    )
