"""An allowlisting HTTP forward proxy: CONNECT tunnels and absolute `http://` requests.

Each request's host and port are checked against allowed-host patterns and then resolved to
public addresses only (`ssrf`) before anything is connected; refusals are answered here with an
error status. It serves a listening socket it is handed and knows nothing of namespaces.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import logging
import socket
from collections.abc import Mapping
from typing import Protocol
from urllib.parse import urlsplit

from corral.sandbox import ssrf

logger = logging.getLogger(__name__)

_HEAD_LIMIT_BYTES = 64 * 1024
_HEAD_TIMEOUT_S = 30.0
_CONNECT_TIMEOUT_S = 10.0
_CHUNK_BYTES = 64 * 1024
_MAX_CONNECTIONS = 256
_VERSIONS = frozenset({"HTTP/1.0", "HTTP/1.1"})
# Headers that belong to one hop; the proxy sets Host and Connection itself.
_HOP_BY_HOP = frozenset({
    "connection", "host", "keep-alive", "proxy-authenticate", "proxy-authorization",
    "proxy-connection", "te", "trailer", "upgrade",
})  # fmt: skip


class DecisionLog(Protocol):
    """Told of every allow or deny, before the proxy acts on it."""

    def __call__(self, method: str, host: str, port: int, *, allowed: bool, why: str) -> None:
        """Record one decision about `host:port`; `why` is a short reason."""


class _Refused(Exception):
    """A request the proxy answers itself, with an error status."""

    def __init__(self, status: int, reason: str, detail: str = "") -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason
        self.detail = detail


class AllowlistProxy:
    """Forwards HTTP(S) to the allowed hosts only, for as long as it serves."""

    def __init__(
        self,
        *,
        allowed_hosts: tuple[str, ...] | None,
        record: DecisionLog,
        private_hosts: tuple[str, ...] = (),
        resolver: ssrf.Resolver | None = None,
        log_extra: Mapping[str, object] | None = None,
    ) -> None:
        """Describe the proxy; `start` is what serves it.

        Args:
            allowed_hosts: patterns as `ssrf.host_allowed` reads them; None allows any host
                (still only at public addresses).
            record: called with each decision.
            private_hosts: patterns of the hosts that may resolve to non-public addresses (the
                operator's trusted internal hosts), matched with the port of each request.
            resolver: replaces the system resolver (tests).
            log_extra: added to the proxy's own log records, e.g. whose network it serves.
        """
        self._allowed_hosts = allowed_hosts
        self._record = record
        self._private_hosts = private_hosts
        self._resolver = resolver
        self._log_extra = dict(log_extra or {})
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[object]] = set()

    async def start(self, listener: socket.socket) -> None:
        """Serve connections on `listener`, a bound, listening, non-blocking socket."""
        self._server = await asyncio.start_server(
            self._serve, sock=listener, limit=_HEAD_LIMIT_BYTES
        )

    async def close(self) -> None:
        """Stop listening and drop the open connections."""
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        await asyncio.gather(*self._connections, return_exceptions=True)
        if self._server is not None:
            await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        try:
            if len(self._connections) > _MAX_CONNECTIONS:
                raise _Refused(503, "Service Unavailable", "too many open connections")
            await self._handle(reader, writer)
        except _Refused as refusal:
            body = refusal.reason + (f"\n{refusal.detail}" if refusal.detail else "")
            await _respond(writer, refusal.status, refusal.reason, body)
        except (OSError, TimeoutError, asyncio.IncompleteReadError):
            pass  # the client went away or stalled; nothing to answer
        except Exception:
            logger.exception(
                "proxy connection failed", extra={"action": "network.error", **self._log_extra}
            )
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), _HEAD_TIMEOUT_S)
        except asyncio.LimitOverrunError as exc:
            raise _Refused(431, "Request Header Fields Too Large") from exc
        request_line, *headers = head.decode("latin-1").split("\r\n")[:-2]
        parts = request_line.split(" ")
        if len(parts) != 3:
            raise _bad_request("malformed request line")
        method, target, version = parts
        if not (method.isascii() and method.isalpha()) or version not in _VERSIONS:
            raise _bad_request("malformed request line")
        if method == "CONNECT":
            host, port = _split_authority(target)
            upstream = await self._open(method, host, port)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
        elif target[:7].lower() == "http://":
            host, port, upstream_head = _origin_request(method, target, version, headers)
            upstream = await self._open(method, host, port)
            upstream[1].write(upstream_head)
        else:
            raise _bad_request("this proxy takes CONNECT host:port or absolute http:// URLs")
        try:
            await _relay((reader, writer), upstream)
        finally:
            upstream[1].close()

    async def _open(
        self, method: str, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Vet `host:port` against the policy, then connect to one of its vetted addresses."""
        name = ssrf.normalize_host(host)
        if name is None:
            raise _bad_request("invalid host")
        addresses = await self._vet(method, name, port)
        for address in addresses:
            with contextlib.suppress(OSError, TimeoutError):
                return await asyncio.wait_for(
                    asyncio.open_connection(str(address), port), _CONNECT_TIMEOUT_S
                )
        raise _Refused(502, "Bad Gateway", f"cannot connect to {name}:{port}")

    async def _vet(self, method: str, host: str, port: int) -> list[ssrf.IPAddress]:
        shown = f"[{host}]" if ":" in host else host
        refusal = f"blocked by sandbox network policy: {shown}:{port}"
        if self._allowed_hosts is not None and not ssrf.host_allowed(
            host, port, self._allowed_hosts
        ):
            self._record(method, host, port, allowed=False, why="not in allowed_hosts")
            raise _Refused(403, refusal)

        def may_be_private(name: str, address: ssrf.IPAddress) -> bool:
            return ssrf.host_allowed(name, port, self._private_hosts)

        try:
            addresses = await ssrf.resolve_public(
                host, port, allow=may_be_private, resolver=self._resolver
            )
        except ssrf.ResolutionFailed as exc:
            self._record(method, host, port, allowed=False, why="does not resolve")
            raise _Refused(502, "Bad Gateway", f"cannot resolve {host}") from exc
        except ssrf.BlockedAddress as exc:
            self._record(method, host, port, allowed=False, why=str(exc))
            raise _Refused(403, refusal, str(exc)) from exc
        self._record(method, host, port, allowed=True, why="allowed")
        return addresses


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Copy bytes until end of stream, then pass the end on (half-close)."""
    with contextlib.suppress(OSError):
        while chunk := await reader.read(_CHUNK_BYTES):
            writer.write(chunk)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()


async def _relay(
    client: tuple[asyncio.StreamReader, asyncio.StreamWriter],
    upstream: tuple[asyncio.StreamReader, asyncio.StreamWriter],
) -> None:
    """Carry bytes both ways until the upstream side has finished talking."""
    upward = asyncio.create_task(_pump(client[0], upstream[1]))
    try:
        await _pump(upstream[0], client[1])
    finally:
        upward.cancel()
        await asyncio.gather(upward, return_exceptions=True)


async def _respond(writer: asyncio.StreamWriter, status: int, reason: str, body: str) -> None:
    payload = (body + "\n").encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\n"
        "Content-Type: text/plain; charset=utf-8\r\n"
        f"Content-Length: {len(payload)}\r\n"
        "Connection: close\r\n\r\n"
    )
    writer.write(head.encode("latin-1") + payload)
    with contextlib.suppress(OSError):
        await writer.drain()


def _bad_request(message: str) -> _Refused:
    return _Refused(400, http.HTTPStatus.BAD_REQUEST.phrase, message)


def _split_authority(authority: str) -> tuple[str, int]:
    """`host:port` (or `[v6]:port`) of a CONNECT request."""
    host, separator, port = authority.rpartition(":")
    if not separator or not port.isdigit() or not 0 < int(port) < 65536:
        raise _bad_request(f"CONNECT needs host:port, got {authority[:100]!r}")
    return host, int(port)


def _origin_request(
    method: str, target: str, version: str, headers: list[str]
) -> tuple[str, int, bytes]:
    """Host, port and the upstream request head of an absolute-form `http://` request."""
    try:
        url = urlsplit(target)
        port = url.port or 80
    except ValueError as exc:
        raise _bad_request(f"malformed URL: {exc}") from exc
    host = url.hostname or ""
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    named_by_connection: set[str] = set()
    kept: list[str] = []
    for line in headers:
        name, _, value = line.partition(":")
        if name.strip().lower() == "connection":
            named_by_connection |= {token.strip().lower() for token in value.split(",")}
    for line in headers:
        name, colon, _ = line.partition(":")
        name = name.strip().lower()
        if colon and name not in _HOP_BY_HOP and name not in named_by_connection:
            kept.append(line)
    authority = url.netloc.rpartition("@")[2]  # never forward credentials in the URL
    head = [f"{method} {path} {version}", f"Host: {authority}", *kept, "Connection: close"]
    return host, port, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1")
