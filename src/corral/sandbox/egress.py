"""Where the requests the server makes for an agent may go, and the HTTP transports that obey it.

`web_fetch` and remote MCP servers reach the network from the server itself, with URLs an agent
chose, so they must never reach what only the server can: its own services, the private network
behind it, cloud metadata. An `EgressPolicy` decides per destination before anything connects,
resolves names itself and connects only to the addresses it vetted (Host, SNI and the certificate
check keep the name), so a DNS answer that changes between check and connect cannot redirect a
request. Proxy variables of the server's environment are never used for these requests. Nothing
here reads settings: the caller passes the operator's private hosts in.
"""

from __future__ import annotations

import ssl
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast, get_args

import httpcore
import httpcore2
import httpx
import httpx2

from corral.domain.run_spec import Networking, NetworkMode
from corral.sandbox import ssrf

__all__ = ["EgressPolicy", "EgressRefused", "NetworkMode"]

"""`open`: any public host; `limited`: the allowed hosts only; `none`: nothing at all."""

_DEFAULT_PORTS = {"http": 80, "https": 443}
_Stream = TypeVar("_Stream")


class EgressRefused(Exception):
    """A destination the network policy does not allow; nothing was connected to find out."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"blocked by network policy: {reason}")
        self.reason = reason
        """Which host was refused and why, without the prefix."""


def _is_pattern(pattern: str) -> bool:
    try:
        ssrf.validate_pattern(pattern)
    except ValueError:
        return False
    return True


def _netloc(name: str, port: int) -> str:
    return f"[{name}]:{port}" if ":" in name else f"{name}:{port}"


@dataclass(frozen=True, kw_only=True)
class EgressPolicy:
    """Where the requests the server makes for one agent may go.

    `none` refuses every destination; `limited` allows the hosts matching `allowed_hosts`;
    `open` allows any host. In every mode a host must resolve only to public addresses that
    are not this server's own, unless it matches `private_hosts`, the operator's list of
    trusted internal hosts. Names are resolved by the policy, never again by the caller.
    """

    mode: NetworkMode = "open"
    allowed_hosts: tuple[str, ...] = ()
    """Patterns as `ssrf.host_allowed` reads them; only used in `limited` mode."""
    private_hosts: tuple[str, ...] = ()
    """Patterns of hosts that may resolve to non-public addresses (the operator's choice)."""
    resolver: ssrf.Resolver | None = field(default=None, compare=False, repr=False)
    """Replaces the system resolver (tests)."""

    def __post_init__(self) -> None:
        if self.mode not in get_args(NetworkMode):
            raise ValueError(f"network mode must be open, limited or none, not {self.mode!r}")
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "private_hosts", tuple(self.private_hosts))
        for pattern in (*self.allowed_hosts, *self.private_hosts):
            ssrf.validate_pattern(pattern)

    @classmethod
    def for_networking(
        cls, networking: Networking | None, *, private_hosts: Iterable[str] = ()
    ) -> EgressPolicy:
        """The policy of a run whose spec's `environment.networking` is `networking`."""
        networking = networking or Networking()
        # A spec stored before its patterns were checked at submit may hold malformed ones: they
        # match nothing, as `ssrf.host_allowed` treats them, rather than fail the run.
        allowed = [p for p in networking.allowed_hosts if _is_pattern(p)]
        return cls(
            mode=networking.mode,
            allowed_hosts=tuple(allowed),
            private_hosts=tuple(private_hosts),
        )

    def check_host(self, host: str, port: int) -> str:
        """`host` normalized, when the mode and the allowlist let requests go there.

        Asks no DNS server (a refused host must not leak through a lookup either); `resolve`
        vets the addresses.

        Raises:
            EgressRefused: mode `none`, a host `limited` does not list, a malformed host or port.
        """
        name = ssrf.normalize_host(host)
        shown = _netloc(name, port) if name is not None else repr(host)
        if self.mode == "none":
            raise EgressRefused(f"{shown}: the agent's networking mode is 'none'")
        if name is None:
            raise EgressRefused(f"{host!r} is not a valid host name or IP address")
        if not 0 < port < 65536:
            raise EgressRefused(f"{shown}: {port} is not a valid port")
        if self.mode == "limited" and not ssrf.host_allowed(name, port, self.allowed_hosts):
            raise EgressRefused(f"{shown} is not one of the agent's allowed_hosts")
        return name

    def check_url(self, url: str) -> None:
        """Refuse a URL whose scheme, host or port the policy refuses; asks no DNS server.

        Raises:
            EgressRefused: as `check_host`, and for a URL that is not a valid http(s) URL. The
                message never repeats the URL, which may hold credentials.
        """
        try:
            parsed = httpx.URL(url)
        except (httpx.InvalidURL, UnicodeError) as error:  # idna raises UnicodeErrors
            raise EgressRefused(f"not a valid URL ({error})") from None
        _check_origin(self, parsed.scheme, parsed.raw_host, parsed.port)

    async def resolve(self, host: str, port: int) -> list[ssrf.IPAddress]:
        """The vetted addresses of `host:port`: the only ones a request may connect to.

        Raises:
            EgressRefused: the policy refuses the host or an address it resolves to.
            ssrf.ResolutionFailed: the name does not resolve.
        """
        name = self.check_host(host, port)

        def may_be_private(host: str, address: ssrf.IPAddress) -> bool:
            return ssrf.host_allowed(host, port, self.private_hosts)

        try:
            return await ssrf.resolve_public(
                name, port, allow=may_be_private, resolver=self.resolver
            )
        except ssrf.ResolutionFailed:
            raise
        except ssrf.BlockedAddress as blocked:
            raise EgressRefused(str(blocked)) from None

    def httpx_transport(self, *, verify: ssl.SSLContext | bool = True) -> httpx.AsyncHTTPTransport:
        """An httpx transport that vets every request (redirect hops included) by this policy."""
        return _HttpxTransport(self, verify)

    def httpx2_transport(
        self, *, verify: ssl.SSLContext | bool = True
    ) -> httpx2.AsyncHTTPTransport:
        """The same transport for httpx2, the HTTP client of the MCP SDK."""
        return _Httpx2Transport(self, verify)


def _check_origin(policy: EgressPolicy, scheme: str, raw_host: bytes, port: int | None) -> None:
    """`check_url` for a URL already parsed (by httpx or httpx2)."""
    if scheme not in _DEFAULT_PORTS:
        raise EgressRefused(f"only http and https URLs may be fetched, not {scheme or 'none'}")
    if not raw_host:
        raise EgressRefused("the URL has no host")
    port = _DEFAULT_PORTS[scheme] if port is None else port
    policy.check_host(raw_host.decode("ascii", "replace"), port)


async def _connect_vetted(
    policy: EgressPolicy,
    host: str,
    port: int,
    connect: Callable[[str], Awaitable[_Stream]],
    *,
    unreachable: tuple[type[Exception], ...],
    connect_error: Callable[[str], Exception],
) -> _Stream:
    """A connection to the first of `host`'s vetted addresses that answers."""
    try:
        addresses = await policy.resolve(host, port)
    except ssrf.ResolutionFailed as failed:
        raise connect_error(str(failed)) from None
    failure: Exception = connect_error(f"{host} has no address")
    for address in addresses:
        try:
            return await connect(str(address))
        except unreachable as error:
            failure = error
    raise failure


class _VettedNetwork:
    """A network backend that connects only to the addresses the policy vetted.

    One class serves httpcore and httpcore2, which share the interface.
    """

    def __init__(
        self,
        policy: EgressPolicy,
        network: Any,
        connect_error: type[Exception],
        connect_timeout: type[Exception],
    ) -> None:
        self._policy = policy
        self._network = network
        self._connect_error = connect_error
        self._unreachable = (connect_error, connect_timeout)

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> Any:
        def connect(address: str) -> Awaitable[Any]:
            return self._network.connect_tcp(  # type: ignore[no-any-return]
                address, port, timeout, local_address, socket_options=socket_options
            )

        return await _connect_vetted(
            self._policy,
            host,
            port,
            connect,
            unreachable=self._unreachable,
            connect_error=self._connect_error,
        )

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> Any:
        raise EgressRefused(f"unix socket {path}")  # unreachable: the pool has no `uds`

    async def sleep(self, seconds: float) -> None:
        await self._network.sleep(seconds)


# httpx has no option for a network backend, so each transport replaces the connection pool
# its constructor built with one that connects through the policy. Its request and response
# handling, and its translation of httpcore's errors, stay httpx's own.


class _HttpxTransport(httpx.AsyncHTTPTransport):
    def __init__(self, policy: EgressPolicy, verify: ssl.SSLContext | bool) -> None:
        context = httpx.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        network = _VettedNetwork(
            policy, httpcore.AnyIOBackend(), httpcore.ConnectError, httpcore.ConnectTimeout
        )
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=context, network_backend=cast(httpcore.AsyncNetworkBackend, network)
        )
        self._policy = policy

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        _check_origin(self._policy, url.scheme, url.raw_host, url.port)
        return await super().handle_async_request(request)


class _Httpx2Transport(httpx2.AsyncHTTPTransport):
    def __init__(self, policy: EgressPolicy, verify: ssl.SSLContext | bool) -> None:
        context = httpx2.create_ssl_context(verify=verify)
        super().__init__(verify=context)
        network = _VettedNetwork(
            policy, httpcore2.AnyIOBackend(), httpcore2.ConnectError, httpcore2.ConnectTimeout
        )
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=context, network_backend=cast(httpcore2.AsyncNetworkBackend, network)
        )
        self._policy = policy

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        url = request.url
        _check_origin(self._policy, url.scheme, url.raw_host, url.port)
        return await super().handle_async_request(request)
