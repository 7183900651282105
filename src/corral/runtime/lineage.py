"""What a run needs of its subagent tree, given to it by its worker.

Starting a child means building a run from a stored agent and its workspace's settings, which
the services do; the runtime sees only this protocol.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Protocol

from corral.domain.run_spec import RunSpec
from corral.domain.subagents import ChildRequest, Refusal
from corral.storage.lineage import Child
from corral.storage.runs import RunRecord

__all__ = ["Lineage"]


class Lineage(Protocol):
    """Starts, reads and ends a run's subagents (given to the run by its worker)."""

    async def start(
        self, parent: RunRecord, spec: RunSpec, requests: Sequence[tuple[str, ChildRequest]]
    ) -> dict[str, Child | Refusal]:
        """Start the children of the parent's calls, by call id.

        A call that started its child already gets that same child.
        """
        ...

    async def children(self, parent_id: str, ids: Collection[str]) -> list[Child]:
        """The parent's children among `ids`, as they stand."""
        ...

    async def await_children(self, parent_id: str, ids: Collection[str]) -> None:
        """Record that the parent waits for these children's ends."""
        ...

    async def tree_cost(self, root_id: str, but: str) -> float:
        """What the tree of `root_id` spent, but the run `but`."""
        ...

    async def end_descendants(self, run_id: str, reason: str) -> None:
        """Cancel every run below `run_id` that has not ended."""
        ...
