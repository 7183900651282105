"""Tools served by MCP servers, through sessions of the official `mcp` SDK.

This is the seam to MCP: SDK and transport errors are turned here into `McpUnavailable` (while
connecting) or into a tool error the model reads (while calling), so no MCP failure can end a run
or hang it. Each server's tools are offered to the model as `<server>__<tool>`; see `tool_name`.
A connection is never reopened: `mcp_reconnect` replaces a lost one, guided by `Delivery`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import anyio
import httpx2
from mcp import ClientSession, types
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError

from corral.domain.run_spec import McpServerSpec
from corral.sandbox.egress import EgressPolicy, EgressRefused
from corral.tools.base import ToolOutcome
from corral.tools.mcp_content import outcome
from corral.tools.mcp_listing import list_tools, offered
from corral.tools.mcp_specs import McpTool, tool_name
from corral.tools.mcp_stdio import Launcher, StderrTail, environment_stdio

__all__ = [
    "Delivery",
    "McpConnection",
    "McpServerSpec",
    "McpTool",
    "McpUnavailable",
    "tool_name",
]

logger = logging.getLogger(__name__)

_CLIENT_INFO = types.Implementation(name="corral", version="0.1.0")
_CLOSE_GRACE_S = 5.0
"""How long a polite close (HTTP session DELETE, stdio shutdown) may take before it is cut."""
_SETTLE_S = 5.0
"""How long an abandoned call may take to send its cancellation to the server."""
_READ_MARGIN_S = 30.0
"""HTTP read timeout beyond `call_timeout_s`: the SDK drops the whole session on a read timeout,
so ours must fire first and leave the session usable."""
_UNREACHED_WAIT_S = 0.5
"""How long a call that lost its connection waits to learn whether the server was unreachable:
the SDK fails the call a moment before the transport reports why."""


class McpUnavailable(Exception):
    """An MCP server could not be connected to, initialized or asked for its tools."""

    def __init__(self, server: str, reason: str) -> None:
        super().__init__(f"MCP server {server} is unavailable: {reason}")
        self.server = server
        self.reason = reason


class Delivery(enum.Enum):
    """What became of a call, as far as a connection that may have been lost can tell."""

    ANSWERED = "answered"
    """The server answered (a result or an error), or the call timed out: the session holds."""
    LOST = "lost"
    """The connection was lost while the server had the call: whether it ran is unknown."""
    UNSENT = "unsent"
    """The connection was lost before the server could run the call: sending it again is safe."""


class McpConnection:
    """One live session with one MCP server, for the duration of a run.

    The SDK's transports and session are anyio context managers that must be entered and left in
    one task, so a background task owns them for the connection's life; `call` may be used from
    any task and `close` from any other.
    """

    def __init__(
        self,
        spec: McpServerSpec,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
        missing_ok: bool = False,
    ) -> None:
        self.spec = spec
        self.tools: list[McpTool] = []
        self._launcher = launcher
        self._egress = egress or EgressPolicy()
        self._missing_ok = missing_ok
        self._session: ClientSession | None = None
        self._stage = "connect"
        self._lost: str | None = None
        self._failure: BaseException | None = None
        self._http_error: str | None = None
        self._stderr: StderrTail | None = None
        self._stop = asyncio.Event()
        self._scope = anyio.CancelScope()
        self._ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._owner: asyncio.Task[None] | None = None

    @classmethod
    async def open(
        cls,
        spec: McpServerSpec,
        *,
        launcher: Launcher | None = None,
        egress: EgressPolicy | None = None,
        missing_ok: bool = False,
    ) -> McpConnection:
        """Connect, initialize and list the server's tools within `spec.connect_timeout_s`.

        A remote server is reached only where `egress` allows (default: public addresses); a
        local one is started by `launcher`, in the run's environment. A tool `spec.tools` names
        that the server lacks makes it unavailable, unless `missing_ok` (a server reconnected
        mid-run keeps what it still has).

        Raises:
            McpUnavailable: any of the three steps failed or took too long, or `egress` refused
                the server's URL.
        """
        connection = cls(spec, launcher, egress, missing_ok)
        owner = asyncio.create_task(connection._own(), name=f"mcp {spec.name}")
        connection._owner = owner
        try:
            await asyncio.wait(
                {connection._ready, owner},
                timeout=spec.connect_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        except BaseException:
            connection._ready.cancel()
            await connection._abort()
            raise
        if connection._ready.done():
            failure = connection._ready.exception()
            if failure is not None:
                await owner
                raise failure
            return connection
        stage = connection._stage
        connection._ready.cancel()
        await connection._abort()
        reason = f"no answer within {spec.connect_timeout_s:g} s (waiting for {stage})"
        raise McpUnavailable(spec.name, reason)

    @property
    def lost(self) -> str | None:
        """Why the connection is lost or closed; None while it serves."""
        if self._lost is None and self._owner is not None and self._owner.done():
            return "the connection ended"
        return self._lost

    async def call(self, tool: McpTool, arguments: dict[str, Any]) -> ToolOutcome:
        """Call one tool; every failure becomes the outcome's error, none is raised."""
        result, _ = await self.attempt(tool, arguments)
        return result

    async def attempt(
        self, tool: McpTool, arguments: dict[str, Any]
    ) -> tuple[ToolOutcome, Delivery]:
        """Call one tool, and say whether the server may have run it if the connection broke."""
        server, remote = self.spec.name, tool.remote_name
        session, owner = self._session, self._owner
        if self.lost is not None or session is None or owner is None:
            lost = self.lost or "the connection is closed"
            error = f"MCP server {server} is not connected: {lost}"
            return ToolOutcome(error=error), Delivery.UNSENT
        request = asyncio.ensure_future(session.call_tool(remote, arguments))
        try:
            await asyncio.wait(
                {request, owner},
                timeout=self.spec.call_timeout_s,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            if not request.done():
                await _abandon(request)
        if request.done() and not request.cancelled():
            try:
                return outcome(request.result()), Delivery.ANSWERED
            except MCPError as exc:
                if exc.code != types.CONNECTION_CLOSED:
                    return self._refused(remote, exc)
                self._lost = await self._explain(exc)
            except Exception as exc:  # the SDK raises more than MCPError (validation, transport)
                logger.warning(
                    "MCP tools/call failed",
                    exc_info=True,
                    extra={"action": "mcp.call_failed", "server": server, "tool": remote},
                )
                error = f"MCP server {server} failed tools/call {remote}: {exc!r}"
                return ToolOutcome(error=error), Delivery.ANSWERED
        if self.lost is not None:
            delivery = Delivery.UNSENT if await self._unreached(owner) else Delivery.LOST
            error = f"MCP server {server} disconnected during tools/call {remote}: {self.lost}"
            return ToolOutcome(error=error), delivery
        return ToolOutcome(
            error=f"MCP server {server} did not answer tools/call {remote} "
            f"within {self.spec.call_timeout_s:g} s"
        ), Delivery.ANSWERED

    def _refused(self, remote: str, exc: MCPError) -> tuple[ToolOutcome, Delivery]:
        """A JSON-RPC error answer; HTTP 404 means the server no longer knows the session.

        MCP servers answer 404 to a session they ended or never had (one that restarted), and
        handle nothing of the request: the session is lost, the call unsent.
        """
        http, self._http_error = self._http_error, None
        error = f"MCP server {self.spec.name} refused tools/call {remote}: {exc}"
        error += f" ({http})" if http else ""
        if http is not None and http.startswith("HTTP 404 "):
            self._lost = f"the server no longer knows the session ({http}); it may have restarted"
            return ToolOutcome(error=error), Delivery.UNSENT
        return ToolOutcome(error=error), Delivery.ANSWERED

    async def _unreached(self, owner: asyncio.Task[None]) -> bool:
        """Whether the connection broke because the server could not be reached at all.

        Then the call's request never left: the transport fails on connecting. (Corral calls
        one tool of a server at a time, so the failed request is this call's.)
        """
        if self.spec.url is None:
            return False
        await asyncio.wait({owner}, timeout=_UNREACHED_WAIT_S)
        return isinstance(self._failure, httpx2.ConnectError | httpx2.ConnectTimeout)

    async def close(self, *, polite: bool = True) -> None:
        """End the session politely if the server lets us, and stop a stdio server's processes.

        Not `polite`, the session is dropped at once (it is lost: the server is gone). The closing
        goes on when the caller is cancelled meanwhile (a worker shutting down): the SDK's
        shutdown of a stdio server runs in the owner task, and a task cancelled from outside
        would skip it and leave the server running. Every wait in it is bounded.
        """
        self._session = None
        self._lost = self._lost or "the connection is closed"
        owner = self._owner
        if owner is None or owner.done():
            return
        self._stop.set()
        closing = asyncio.ensure_future(self._close_owner(owner, _CLOSE_GRACE_S if polite else 0))
        try:
            await asyncio.shield(closing)
        except asyncio.CancelledError:
            await asyncio.wait({closing})
            raise

    async def _close_owner(self, owner: asyncio.Task[None], grace_s: float) -> None:
        await asyncio.wait({owner}, timeout=grace_s)
        await self._abort()

    async def _abort(self) -> None:
        """Cancel the owner task; the SDK's own shielded shutdown still stops a stdio server."""
        self._scope.cancel()
        if self._owner is not None:
            await asyncio.wait({self._owner})

    async def _own(self) -> None:
        """Hold the transport and the session open until told to stop, or until they break."""
        try:
            with self._scope:
                async with AsyncExitStack() as stack:
                    read, write = await stack.enter_async_context(self._transport())
                    session = ClientSession(read, write, client_info=_CLIENT_INFO)
                    await stack.enter_async_context(session)
                    self._stage = "initialize"
                    await session.initialize()
                    self._stage = "tools/list"
                    self.tools = offered(self.spec, await list_tools(session), self._missing_ok)
                    self._session = session
                    self._http_error = None
                    self._ready.set_result(None)
                    await self._stop.wait()
        except (Exception, BaseExceptionGroup) as exc:  # what broke the transport is the reason
            self._failure = _leaf(exc)
            reason = await self._explain(exc)
            log_extra = {"action": "mcp.lost", "server": self.spec.name, "reason": reason}
            logger.warning("MCP server connection failed", exc_info=True, extra=log_extra)
            if self._ready.done():
                self._lost = reason
            else:
                self._ready.set_exception(McpUnavailable(self.spec.name, reason))
        finally:
            self._session = None
            if not self._ready.done():
                self._ready.set_exception(McpUnavailable(self.spec.name, "the connection ended"))

    @asynccontextmanager
    async def _transport(self) -> AsyncIterator[Any]:
        """The SDK transport for the spec: streamable HTTP or a stdio process."""
        spec = self.spec
        if spec.url is not None:
            self._egress.check_url(spec.url)  # refused before anything starts; vetted again on use
            timeout = httpx2.Timeout(
                spec.connect_timeout_s, read=spec.call_timeout_s + _READ_MARGIN_S
            )
            hooks = {"response": [self._note_response]}
            async with (
                httpx2.AsyncClient(
                    headers=spec.headers,
                    timeout=timeout,
                    event_hooks=hooks,
                    transport=self._egress.httpx2_transport(),
                ) as http,
                streamable_http_client(spec.url, http_client=http) as streams,
            ):
                yield streams
            return
        assert spec.command is not None
        if self._launcher is None:
            raise RuntimeError("a local MCP server runs only in a run's environment")
        self._stage = f"start {spec.command}"
        tail = self._stderr = StderrTail()
        argv = [spec.command, *spec.args]
        async with environment_stdio(
            self._launcher, spec.name, argv, dict(spec.env), on_stderr=tail.feed
        ) as streams:
            yield streams

    async def _note_response(self, response: httpx2.Response) -> None:
        """Remember an HTTP error status: the SDK reports it only as a generic JSON-RPC error."""
        if response.status_code >= 400:
            self._http_error = f"HTTP {response.status_code} {response.reason_phrase}"

    @property
    def _url(self) -> str:
        """The server's URL without credentials or query, fit for errors the model reads."""
        try:
            url = httpx2.URL(self.spec.url or "")
        except (httpx2.InvalidURL, UnicodeError):  # idna raises UnicodeErrors
            return "the server's URL"
        return str(url.copy_with(userinfo=b"", query=None, fragment=None))

    async def _explain(self, exc: BaseException) -> str:
        """A one-line reason for a failure, naming the step that failed."""
        leaf = _leaf(exc)
        if isinstance(leaf, EgressRefused):
            return str(leaf)  # the policy's reason is the whole story, whatever the step
        if isinstance(leaf, MCPError) and leaf.code == types.CONNECTION_CLOSED:
            what = "the server closed the connection"
        elif isinstance(leaf, httpx2.HTTPError):
            what = f"request to {self._url} failed: {type(leaf).__name__}: {leaf}"
        elif isinstance(leaf, OSError) and self._stage.startswith("start "):
            what = leaf.strerror or str(leaf)
        else:
            what = str(leaf) or type(leaf).__name__
        if self._http_error is not None:
            what = f"{self._http_error} from {self._url}"
        if self._stderr is not None:
            closed = asyncio.ensure_future(self._stderr.closed.wait())
            await asyncio.wait({closed}, timeout=0.5)
            closed.cancel()
            if stderr := self._stderr.text():
                what = f"{what}; its stderr ends: {stderr}"
        if self._ready.done():
            return what
        return f"{self._stage} failed: {what}"


async def _abandon(request: asyncio.Future[Any]) -> None:
    """Cancel a call in flight; the SDK then tells the server to stop working on it."""
    request.cancel()
    request.add_done_callback(lambda done: done.cancelled() or done.exception())
    await asyncio.wait({request}, timeout=_SETTLE_S)


def _leaf(exc: BaseException) -> BaseException:
    """The first real cause inside the exception groups of anyio task groups."""
    while isinstance(exc, BaseExceptionGroup):
        causes = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (causes or list(exc.exceptions))[0]
    return exc
