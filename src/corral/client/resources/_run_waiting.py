"""Waiting for a run to end, in server-side waits of bounded length."""

from __future__ import annotations

import time

from corral.client.resources._base import AsyncResource, SyncResource
from corral.client.resources._common import segment
from corral.types.runs import TERMINAL_STATUSES, Run

SERVER_WAIT_S = 60.0
"""Longest single `wait` request; `wait()` repeats it up to the caller's timeout."""

WAIT_READ_MARGIN_S = 30.0
"""How much longer than the server's wait a `wait` request may take before it times out."""


def _deadline(timeout_s: float | None) -> float | None:
    return None if timeout_s is None else time.monotonic() + timeout_s


def _next_wait_s(deadline: float | None) -> float:
    """The length of the next server-side wait."""
    left = SERVER_WAIT_S if deadline is None else max(0.0, deadline - time.monotonic())
    return min(left, SERVER_WAIT_S)


def _is_done(run: Run, deadline: float | None) -> bool:
    return run.status in TERMINAL_STATUSES or bool(deadline and time.monotonic() >= deadline)


class RunWaiting(SyncResource):
    """`/v1/runs/{id}/wait`."""

    def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """The run once it has ended (or as it stands after `timeout_s`; None waits on)."""
        deadline = _deadline(timeout_s)
        while True:
            step = _next_wait_s(deadline)
            response = self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/wait",
                params={"timeout_s": step},
                timeout=step + WAIT_READ_MARGIN_S,
            )
            run = Run.model_validate(response.json())
            if _is_done(run, deadline):
                return run


class AsyncRunWaiting(AsyncResource):
    """`/v1/runs/{id}/wait`."""

    async def wait(self, run_id: str, *, timeout_s: float | None = None) -> Run:
        """The run once it has ended (or as it stands after `timeout_s`; None waits on)."""
        deadline = _deadline(timeout_s)
        while True:
            step = _next_wait_s(deadline)
            response = await self._client.request(
                "GET",
                f"/v1/runs/{segment(run_id)}/wait",
                params={"timeout_s": step},
                timeout=step + WAIT_READ_MARGIN_S,
            )
            run = Run.model_validate(response.json())
            if _is_done(run, deadline):
                return run
