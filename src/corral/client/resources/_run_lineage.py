"""A run's subagents: the children it started, and the tree below it, from `GET /v1/runs`.

Each subagent is a run of its own that `parent_run`, `root_run` and `depth` place in its tree.
The listing filters on a tree's root, so the tree below any run costs one walk of its root's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from corral.client._pagination import AsyncPage, SyncPage
from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.runs import Run, RunStatus

TREE_PAGE_SIZE = 100
"""Runs asked for per request when listing a tree (the server's largest page)."""


def tree_order(top: Run, below: Iterable[Run]) -> list[Run]:
    """`top`, then each run under it right after its parent, siblings oldest first.

    That is the order a tree is printed in; runs of `below` not under `top` are left out.
    """
    children: defaultdict[str, list[Run]] = defaultdict(list)
    for run in below:
        if run.parent_run is not None and run.id != top.id:
            children[run.parent_run].append(run)
    ordered: list[Run] = []
    stack = [top]
    while stack:
        run = stack.pop()
        ordered.append(run)
        siblings = sorted(children.pop(run.id, ()), key=lambda r: (r.created_at, r.id))
        stack.extend(reversed(siblings))
    return ordered


def _children_params(
    run_id: str, status: RunStatus | str | None, limit: int | None
) -> dict[str, Any]:
    return {"parent_run": run_id, "status": status, "limit": limit}


def _tree_params(top: Run) -> dict[str, Any]:
    """Every run of `top`'s tree: a root's `root_run` is null, its descendants' name it."""
    return {"root_run": top.root_run or top.id, "limit": TREE_PAGE_SIZE}


class RunLineage(SyncResource):
    """`children()` and `tree()`: the subagent runs below a run."""

    def children(
        self, run_id: str, *, status: RunStatus | str | None = None, limit: int | None = None
    ) -> SyncPage[Run]:
        """The runs `run_id`'s tool calls started, newest first (iterating walks all pages)."""
        return self._page("/v1/runs", Run, _children_params(run_id, status, limit))

    def tree(self, run_id: str) -> list[Run]:
        """The run, then every run below it, each right after its parent (oldest first).

        `depth - tree[0].depth` is how far below the run each one is: indent by it to draw. A
        run that started no subagent costs one request, any other a walk of its root's tree.
        """
        top = Run.model_validate(self._client.request("GET", f"/v1/runs/{segment(run_id)}").json())
        if not top.subagents:
            return [top]
        return tree_order(top, self._page("/v1/runs", Run, _tree_params(top)))


class AsyncRunLineage(AsyncResource):
    """`children()` and `tree()`: the subagent runs below a run."""

    async def children(
        self, run_id: str, *, status: RunStatus | str | None = None, limit: int | None = None
    ) -> AsyncPage[Run]:
        """The runs `run_id`'s tool calls started, newest first (iterating walks all pages)."""
        return await self._page("/v1/runs", Run, _children_params(run_id, status, limit))

    async def tree(self, run_id: str) -> list[Run]:
        """The run, then every run below it, each right after its parent (oldest first).

        `depth - tree[0].depth` is how far below the run each one is: indent by it to draw. A
        run that started no subagent costs one request, any other a walk of its root's tree.
        """
        response = await self._client.request("GET", f"/v1/runs/{segment(run_id)}")
        top = Run.model_validate(response.json())
        if not top.subagents:
            return [top]
        page = await self._page("/v1/runs", Run, _tree_params(top))
        return tree_order(top, [run async for run in page])
