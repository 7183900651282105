"""A run's MCP server kept usable when its connection is lost mid-run: reconnected, with backoff.

An `McpConnection` is one session and never reopens. `McpServer` holds the current one and
replaces it when it is lost (the transport died, a call found the connection gone, or the server
restarted and no longer knows the session): a first attempt at once, then after 0.5 s, 1 s, 2 s…
at most 10 s apart, while less than 60 s have passed since the first (`Backoff`). Calls to the
server's tools meanwhile wait for the outcome; after it gave up they fail at once, naming the
server, for the rest of the run.

What happened is reported as events (`mcp.reconnected`, or `mcp.unavailable` when it gave up)
through `report`, which must only queue them: they are written from the task that calls a tool
(`McpToolbox.flush`), never from a background task, since an event written mid-turn would cut the
model's streamed text, and one written after the run ended would follow its terminal event.

A call the server may have been running when the connection broke is not sent again (its effects
are unknown) unless its tool is rerun-safe (`McpTool.rerun_safe`); one the server never got is
sent once more, on the new connection. Either way a call is sent at most twice.

A remote server is reconnected in the background as soon as the loss is noticed. A local (stdio)
server is restarted in the run's environment only when a call needs it, while that call waits:
the environment is shared with the run's other tools, and a background task must not race them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from corral.domain.events import EventPayload, McpReconnected
from corral.domain.events import McpUnavailable as McpUnavailableEvent
from corral.domain.run_spec import McpServerSpec
from corral.sandbox.egress import EgressPolicy
from corral.tools.base import ToolOutcome
from corral.tools.mcp import Delivery, McpConnection, McpUnavailable
from corral.tools.mcp_specs import McpTool
from corral.tools.mcp_stdio import Launcher

__all__ = [
    "RECONNECT_BUDGET_S",
    "RECONNECT_FIRST_DELAY_S",
    "RECONNECT_MAX_DELAY_S",
    "Backoff",
    "McpServer",
    "Report",
]

logger = logging.getLogger(__name__)

RECONNECT_FIRST_DELAY_S = 0.5
"""Wait after the first failed attempt to reconnect (the first is made as soon as the loss is
noticed: a restarted server is usually back already)."""
RECONNECT_MAX_DELAY_S = 10.0
"""The wait doubles after each failed attempt, up to this."""
RECONNECT_BUDGET_S = 60.0
"""Attempts start within this long after the first (each takes at most the server's
`connect_timeout_s`); then the server is given up for the rest of the run."""

Report = Callable[[EventPayload], None]
"""Queues an event for the run's log (see the module's docstring)."""


@dataclass(frozen=True)
class Backoff:
    """When to try again to connect a lost server: a schedule, no I/O."""

    first_delay_s: float = RECONNECT_FIRST_DELAY_S
    max_delay_s: float = RECONNECT_MAX_DELAY_S
    budget_s: float = RECONNECT_BUDGET_S

    def delay_s(self, failed: int) -> float:
        """The wait after `failed` failed attempts (1, 2, …)."""
        doublings = min(max(failed - 1, 0), 32)
        return min(self.first_delay_s * float(2**doublings), self.max_delay_s)

    def gives_up(self, elapsed_s: float, failed: int) -> bool:
        """Whether the next attempt would start after the budget, counted from the first."""
        return elapsed_s + self.delay_s(failed) >= self.budget_s


@dataclass(frozen=True)
class _Loss:
    connection: McpConnection
    reason: str
    since: float
    """`time.monotonic()` when the loss was noticed."""


class McpServer:
    """One MCP server of a run: its current connection, replaced whenever it is lost."""

    def __init__(
        self,
        connection: McpConnection,
        *,
        report: Report,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.spec: McpServerSpec = connection.spec
        self.tools: list[McpTool] = connection.tools
        """The tools offered to the model: the first connection's, for the whole run."""
        self._connection: McpConnection | None = connection
        self._report = report
        self._launcher = launcher
        self._egress = egress
        self._backoff = backoff or Backoff()
        self._loss: _Loss | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._given_up: str | None = None

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> ToolOutcome:
        """Call one of the server's tools, on a new connection if need be; never raises."""
        name = self.spec.name
        for second in (False, True):
            connection = await self._connected()
            if connection is None:
                return ToolOutcome(
                    error=f"the MCP server {name!r} is unavailable for the rest of this run: "
                    f"{self._given_up}"
                )
            current = next((t for t in connection.tools if t.remote_name == tool.remote_name), None)
            if current is None:
                listed = ", ".join(t.remote_name for t in connection.tools) or "no tools"
                return ToolOutcome(
                    error=f"the MCP server {name!r} no longer offers the tool "
                    f"{tool.remote_name!r}: it was reconnected and now lists {listed}"
                )
            result, delivery = await connection.attempt(current, arguments)
            if delivery is Delivery.ANSWERED:
                return result
            reason = connection.lost or result.error or "the connection was lost"
            self._lose(connection, reason)
            if second:
                unknown = "; whether it took effect is unknown" if delivery is Delivery.LOST else ""
                return ToolOutcome(
                    error=f"the MCP server {name!r} disconnected again when the call was sent "
                    f"a second time after reconnecting ({reason}){unknown}"
                )
            if delivery is Delivery.LOST and not tool.rerun_safe:
                return ToolOutcome(
                    error=f"the MCP server {name!r} disconnected during the call ({reason}); it "
                    "was not retried because its effects are unknown. Corral reconnects to the "
                    "server: later calls to its tools wait for it"
                )
        raise AssertionError("unreachable: the second attempt always returns")

    async def close(self) -> None:
        """Stop reconnecting and close the connection (and a lost one not yet closed)."""
        task = self._reconnecting
        if task is not None:
            task.cancel()
            await asyncio.wait({task})
        if self._loss is not None:  # the reconnection was cancelled before it closed it
            await self._loss.connection.close(polite=False)
        if self._connection is not None:
            await self._connection.close()

    def _lose(self, connection: McpConnection, reason: str) -> None:
        """Note that `connection` is lost; a remote server's reconnection begins at once."""
        if connection is not self._connection:
            return  # an older connection, already replaced (or being replaced)
        self._connection = None
        self._loss = _Loss(connection, reason, time.monotonic())
        logger.warning(
            "MCP server connection lost; reconnecting",
            extra={"action": "mcp.lost", "server": self.spec.name, "reason": reason},
        )
        if self.spec.url is not None:
            self._start_reconnecting()

    def _start_reconnecting(self) -> asyncio.Task[None]:
        if self._reconnecting is None:
            self._reconnecting = asyncio.create_task(
                self._reconnect(), name=f"mcp reconnect {self.spec.name}"
            )
        return self._reconnecting

    async def _connected(self) -> McpConnection | None:
        """The live connection, after a lost one was replaced; None once the server is given up."""
        while self._given_up is None:
            if self._connection is not None:
                return self._connection
            # Shielded: a call cancelled while it waits leaves the reconnection to `close`.
            await asyncio.shield(self._start_reconnecting())
        return None

    async def _reconnect(self) -> None:
        """Close the lost connection, then connect again on the backoff's schedule, or give up."""
        loss = self._loss
        assert loss is not None
        name = self.spec.name
        try:
            await loss.connection.close(polite=False)
            began, attempts, reason = time.monotonic(), 0, loss.reason
            while True:
                attempts += 1
                try:
                    connection = await McpConnection.open(
                        self.spec, launcher=self._launcher, egress=self._egress, missing_ok=True
                    )
                except McpUnavailable as error:
                    reason = error.reason
                except Exception as error:  # never let a bug here end the run: give up instead
                    logger.exception("MCP reconnection failed", extra={"server": name})
                    reason = repr(error)
                else:
                    self._connection = connection
                    downtime_s = round(time.monotonic() - loss.since, 3)
                    self._report(
                        McpReconnected(server=name, attempts=attempts, downtime_s=downtime_s)
                    )
                    logger.info(
                        "MCP server reconnected",
                        extra={"action": "mcp.reconnected", "server": name, "attempts": attempts},
                    )
                    return
                elapsed_s = time.monotonic() - began
                if self._backoff.gives_up(elapsed_s, attempts):
                    break
                await asyncio.sleep(self._backoff.delay_s(attempts))
            self._given_up = (
                f"its connection was lost ({loss.reason}) and {attempts} attempts to reconnect "
                f"over {elapsed_s:.0f} s failed, the last with: {reason}"
            )
            self._report(McpUnavailableEvent(server=name, reason=self._given_up))
            logger.warning(
                "MCP server given up",
                extra={"action": "mcp.given_up", "server": name, "reason": self._given_up},
            )
        finally:
            self._loss = None
            self._reconnecting = None
