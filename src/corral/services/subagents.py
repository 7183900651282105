"""Subagents: the child runs a run's tool calls start, and the tree they make.

A child is a run like any other: queued, claimed by any worker, with its own event log. Its
spec is built when it starts: from the stored agent an agent tool pinned when the parent was
submitted, or, for an ad-hoc child, from the parent's own stored spec (never the one with its
secrets filled in) narrowed to what the model asked for. A child never gets more than the
parent could give: an ad-hoc child has a subset of the parent's builtin tools and its
permissions; every child shares the tree's spend cap and the parent's provider keys.

Ending a run ends the runs below it (`end_descendants`), each in its own transaction.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import replace
from typing import Any

from corral.context import ServiceContext
from corral.domain import runs as run_rules
from corral.domain.run_spec import RunSpec, SubagentTool
from corral.domain.subagents import (
    ChildRequest,
    Refusal,
    SubagentLimits,
    refusal,
)
from corral.errors import Forbidden, InvalidRequest, Unavailable
from corral.ids import new_id
from corral.observability import metrics
from corral.pubsub.base import QUEUE_CHANNEL
from corral.pubsub.notices import publish_stopped
from corral.services.run_requests import build_spec, pin_agents
from corral.storage import agents as agent_store
from corral.storage import events as event_log
from corral.storage import keys as key_store
from corral.storage import lineage
from corral.storage import runs as run_store
from corral.storage.database import Connection
from corral.storage.lineage import Child
from corral.storage.runs import RunRecord
from corral.types.runs import RunStatus

__all__ = ["Subagents", "end_descendants"]

logger = logging.getLogger(__name__)


class Subagents:
    """Starts, reads and ends the children of runs (what the runtime's `Lineage` asks for)."""

    def __init__(self, ctx: ServiceContext) -> None:
        self._ctx = ctx
        settings = ctx.settings
        self.limits = SubagentLimits(
            max_depth=settings.subagent_max_depth,
            max_children=settings.subagent_max_children,
            max_live_per_root=settings.subagent_max_live_per_root,
        )

    async def start(
        self, parent: RunRecord, spec: RunSpec, requests: Sequence[tuple[str, ChildRequest]]
    ) -> dict[str, Child | Refusal]:
        """Start the children of the parent's calls (by call id), in one transaction.

        A call that started its child already (before a crash) gets that child back.
        """
        ctx = self._ctx
        calls = [call_id for call_id, _ in requests]
        existing = await ctx.database.read(lineage.children_of_calls, parent.id, calls)
        outcomes: dict[str, Child | Refusal] = dict(existing)
        specs: dict[Any, dict[str, Any] | Refusal] = {}
        rows = []
        for call_id, request in requests:
            if call_id in existing:
                continue
            key = (request.agent.agent_id, request.agent.agent_version) if request.agent else None
            built = specs.get(key) if key is not None else None
            if built is None:
                try:
                    built = (await self._child_spec(parent, spec, request)).to_json()
                except (InvalidRequest, Forbidden) as error:
                    built = Refusal(error.code, error.message)
                if key is not None:
                    specs[key] = built
            if isinstance(built, Refusal):
                outcomes[call_id] = built
            else:
                rows.append(self._row(parent, built, call_id, request))
        if rows:
            outcomes |= await ctx.database.write(_start_tx, rows, parent, self.limits)
            await ctx.broker.publish(QUEUE_CHANNEL)
            new = {row["id"] for row in rows}
            metrics.RUNS_CREATED.inc(
                sum(isinstance(o, Child) and o.id in new for o in outcomes.values())
            )
        return outcomes

    async def _child_spec(self, parent: RunRecord, spec: RunSpec, request: ChildRequest) -> RunSpec:
        ctx = self._ctx
        tree_cap = spec.limits.tree_cap_usd
        if request.agent is not None:
            pinned = request.agent
            record = await ctx.database.read(
                agent_store.find,
                parent.workspace_id,
                pinned.agent_id or pinned.agent,
                version=pinned.agent_version,
            )
            if record is None:
                raise InvalidRequest(f"the agent {pinned.agent!r} no longer exists")
            await self._check_key_may_run(parent, record.id, record.name)
            child = await pin_agents(ctx, parent.workspace_id, build_spec(ctx, record.spec, []))
        else:
            model = spec.model
            if request.model is not None:
                entry = ctx.models.resolve(request.model)
                model = entry.id if entry.provider == "corral" else entry.qualified_id
            child = replace(
                spec,
                model=model,
                instructions=request.instructions,
                tools=tuple(tool for tool in spec.tools if isinstance(tool, SubagentTool)),
                builtin_tools=(
                    request.builtin_tools
                    if request.builtin_tools is not None
                    else spec.builtin_tools
                ),
                files=(),
                skills=(),
                limits=replace(spec.limits, max_spend_usd=None),
            )
        return replace(child, limits=replace(child.limits, tree_max_spend_usd=tree_cap))

    async def _check_key_may_run(self, parent: RunRecord, agent_id: str, name: str) -> None:
        """A key limited to some agents reaches no other through a chain of delegations."""
        if parent.key_id is None:
            return
        key = await self._ctx.database.read(key_store.get_key, parent.workspace_id, parent.key_id)
        if key is not None and key.agents is not None and not {agent_id, name} & set(key.agents):
            raise Forbidden(f"the key that submitted this run may not run the agent {name!r}")

    def _row(
        self, parent: RunRecord, spec: dict[str, Any], call_id: str, request: ChildRequest
    ) -> dict[str, Any]:
        agent = request.agent
        return {
            "id": new_id("run"),
            "workspace_id": parent.workspace_id,
            "agent_id": agent.agent_id if agent is not None else None,
            "agent_version": agent.agent_version if agent is not None else None,
            "session_id": None,
            "status": RunStatus.QUEUED.value,
            "model": spec["model"],
            "spec": spec,
            "input": request.input,
            "metadata": parent.metadata,
            "created_at": self._ctx.clock(),
            "key_id": parent.key_id,
            "api_keys": parent.api_keys,
            "parent_run_id": parent.id,
            "root_run_id": parent.root_run_id or parent.id,
            "depth": parent.depth + 1,
            "call_id": call_id,
            "awaited": request.awaited,
        }

    async def children(self, parent_id: str, ids: Collection[str]) -> list[Child]:
        """The parent's children among `ids`, as they stand."""
        return await self._ctx.database.read(lineage.children_of, parent_id, ids)

    async def await_children(self, parent_id: str, ids: Collection[str]) -> None:
        """Record that the parent waits for these children's ends."""
        await self._ctx.database.write(lineage.await_children, parent_id, ids)

    async def tree_cost(self, root_id: str, but: str) -> float:
        """What the tree of `root_id` spent, but the run `but`."""
        return await self._ctx.database.read(lineage.tree_cost, root_id, but)

    async def end_descendants(self, run_id: str, reason: str) -> None:
        """Cancel every run below `run_id` that has not ended."""
        await end_descendants(self._ctx, run_id, reason)


def _start_tx(
    conn: Connection,
    rows: Sequence[dict[str, Any]],
    parent: RunRecord,
    limits: SubagentLimits,
) -> dict[str, Child | Refusal]:
    """Store the children the limits allow, in call order; the others get their refusal."""
    existing = lineage.children_of_calls(conn, parent.id, [row["call_id"] for row in rows])
    outcomes: dict[str, Child | Refusal] = dict(existing)
    started, live = lineage.breadth(conn, parent.id, parent.root_run_id or parent.id)
    accepted = []
    for row in rows:
        if row["call_id"] in existing:
            continue
        refused = refusal(limits, depth=parent.depth, started=started, live=live)
        if refused is not None:
            outcomes[row["call_id"]] = refused
            continue
        accepted.append(row)
        started, live = started + 1, live + 1
    for child in lineage.insert_children(conn, parent.id, accepted):
        assert child.call_id is not None
        outcomes[child.call_id] = child
    return outcomes


def _end_tx(
    conn: Connection, record: RunRecord, reason: str, now: Any
) -> event_log.Committed | None:
    current = run_store.get(conn, record.workspace_id, record.id)
    if current is None or current.is_terminal:
        return None
    ending = run_rules.end(current.status, RunStatus.CANCELLED, now=now, reason=reason)
    return event_log.commit(
        conn, run_id=record.id, events=[ending.event.entry()], now=now, values=ending.values
    )


async def end_descendants(ctx: ServiceContext, run_id: str, reason: str) -> None:
    """Cancel the runs below `run_id` that have not ended, deepest first; stop their workers.

    A database outage leaves the rest running (logged): they end by their own limits.
    """
    try:
        below = await ctx.database.read(lineage.active_descendants, run_id)
        for record in below:
            committed = await ctx.database.write(_end_tx, record, reason, ctx.clock())
            if committed is not None:
                metrics.RUNS_ENDED.labels(RunStatus.CANCELLED.value).inc()
                await publish_stopped(ctx.broker, record.id, committed)
    except Unavailable:
        logger.warning(
            "could not end the subagents of a run that ended",
            extra={"action": "subagents.not_ended", "run_id": run_id},
        )
