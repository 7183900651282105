"""The newest events this process wrote, so a live stream in the same process skips a read.

A subscriber woken by a commit re-reads the log after its cursor. When the commit was made in
this process (the embedded worker of `corral serve`), the events are still in memory: serving
them from here takes a database read off the path of every live token. Events written by
another process are never here, so a stream falls back to the log whenever this tail cannot
show every event after its cursor.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Sequence

from corral.storage.events import StoredEvent

RUNS = 256
"""Runs whose newest events are kept (the runs written to most recently)."""
PER_RUN = 64
"""Newest events kept per run."""


class RecentEvents:
    """The newest committed events of the runs this process wrote to lately."""

    def __init__(self, runs: int = RUNS, per_run: int = PER_RUN) -> None:
        self._runs: OrderedDict[str, deque[StoredEvent]] = OrderedDict()
        self._max_runs = runs
        self._per_run = per_run

    def add(self, run_id: str, events: Sequence[StoredEvent]) -> None:
        """Remember events just committed (in seq order)."""
        if not events:
            return
        tail = self._runs.get(run_id)
        if tail is None:
            tail = self._runs[run_id] = deque(maxlen=self._per_run)
            if len(self._runs) > self._max_runs:
                self._runs.popitem(last=False)
        else:
            self._runs.move_to_end(run_id)
            if tail[-1].seq + 1 != events[0].seq:
                tail.clear()  # written elsewhere in between: keep only what follows on
        tail.extend(events)

    def after(self, run_id: str, seq: int, limit: int) -> list[StoredEvent]:
        """Events with a seq above `seq`, at most `limit`, if every one of them is here.

        Empty when this tail cannot vouch for the next event: the caller reads the log.
        """
        tail = self._runs.get(run_id)
        if not tail or not tail[0].seq <= seq + 1 <= tail[-1].seq:
            return []
        start = seq + 1 - tail[0].seq
        return [tail[i] for i in range(start, min(len(tail), start + limit))]
