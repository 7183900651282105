"""Which hosts and addresses an agent's outbound request may reach.

The sandbox proxy and the egress policy (`egress`, used by `web_fetch` and remote MCP servers) ask
here before they connect, so a request can never land on the server itself (loopback or any
address of its own), the private network behind it, or a cloud metadata endpoint.
Resolution happens once, here, and callers connect to the vetted addresses (not the name), which
closes the window a DNS-rebinding answer would otherwise open.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import socket
from collections.abc import Awaitable, Callable, Sequence

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
AddressAllow = Callable[[str, IPAddress], bool]
"""`allow(host, address)`: True lets `host` use a non-public `address` (tests, trusted setups)."""
Resolver = Callable[[str, int], Awaitable[Sequence[IPAddress]]]
"""`resolve(host, port)`: the addresses of a host name; the system resolver by default."""

__all__ = [
    "AddressAllow",
    "BlockedAddress",
    "IPAddress",
    "ResolutionFailed",
    "Resolver",
    "host_allowed",
    "is_own_address",
    "is_public",
    "normalize_host",
    "resolve_public",
    "validate_pattern",
    "why_not_public",
]


class BlockedAddress(Exception):
    """A host or address an agent may not reach; the message names it and says why."""


class ResolutionFailed(BlockedAddress):
    """A host name that does not resolve, so there is nothing to connect to."""


_net = ipaddress.ip_network

# Checked before the generic properties so the reason names the specific danger. The stdlib
# flags do not cover all of these (CGNAT, 192.0.0.0/24 and multicast count as "global").
_BLOCKED_NETWORKS: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (_net("169.254.169.254/32"), "cloud metadata"),
    (_net("fd00:ec2::254/128"), "cloud metadata"),
    (_net("100.100.100.200/32"), "cloud metadata"),
    (_net("192.0.0.192/32"), "cloud metadata"),
    (_net("100.64.0.0/10"), "carrier-grade NAT"),
    (_net("192.0.0.0/24"), "IETF protocol assignment"),
    (_net("64:ff9b:1::/48"), "local-use NAT64"),
)
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

_LABEL = re.compile(r"(?!-)[a-z0-9_-]{1,63}(?<!-)")


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a v6 address stands for (mapped, 6to4, well-known NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def why_not_public(address: IPAddress) -> str | None:  # noqa: C901 (one flat list of checks)
    """The kind of non-public address this is (`"loopback"`, `"private"`…), or None if public."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return why_not_public(embedded)
        if address.is_site_local:
            return "site-local"
    for network, label in _BLOCKED_NETWORKS:
        if address in network:
            return label
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "non-global"
    return None


def is_public(address: IPAddress) -> bool:
    """True when `address` is on the public internet (though it may be this host's own)."""
    return why_not_public(address) is None


def is_own_address(address: IPAddress) -> bool:
    """True when `address` belongs to this host, so connecting to it reaches the server itself.

    Asked of the kernel by binding a socket to the address: that succeeds exactly for the
    addresses of this host's interfaces and local routes, which change over time, and needs no
    list of them. (With `net.ipv4.ip_nonlocal_bind` set every bind succeeds, and every address
    counts as the host's own: the check then fails closed. An IPv6 link-local address cannot be
    bound without its zone, so it never counts here; `why_not_public` refuses it anyway.)
    """
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    family = socket.AF_INET if address.version == 4 else socket.AF_INET6
    try:
        with socket.socket(family, socket.SOCK_DGRAM) as probe:
            probe.bind((str(address), 0))
    except OSError:
        return False
    return True


def _refusal(address: IPAddress) -> str | None:
    """Why an agent may not reach `address` (`"a loopback address"`…), or None if it may."""
    reason = why_not_public(address)
    if reason is not None:
        article = "an" if reason[0].lower() in "aeiou" else "a"
        return f"{article} {reason} address"
    if is_own_address(address):
        return "an address of this server"
    return None


def _ip_literal(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def normalize_host(host: str) -> str | None:
    """`host` lower-cased, without brackets or a trailing dot; None unless a DNS name or IP literal.

    Zone ids (`fe80::1%eth0`) and anything else with odd characters are refused, so a host that
    passes can be matched, logged and echoed safely.
    """
    host = host.strip().lower()
    if "%" in host:
        return None
    if host.startswith("[") and host.endswith("]"):
        literal = _ip_literal(host[1:-1])
        return str(literal) if isinstance(literal, ipaddress.IPv6Address) else None
    literal = _ip_literal(host)
    if literal is not None:
        return str(literal)
    host = host.removesuffix(".")
    if not host or len(host) > 253:
        return None
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


async def _system_resolve(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(
        host, port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP
    )
    return [ipaddress.ip_address(info[4][0]) for info in infos]


async def resolve_public(
    host: str,
    port: int,
    *,
    allow: AddressAllow | None = None,
    resolver: Resolver | None = None,
) -> list[IPAddress]:
    """The addresses to connect to for `host`, all public and not this server's (or `allow`ed).

    One non-public answer refuses the whole host: a name that resolves to both a public and a
    private address is how a rebinding attack looks.

    Raises:
        ResolutionFailed: the name does not resolve.
        BlockedAddress: the host is not a valid name, or an address it resolves to is not public.
    """
    name = normalize_host(host)
    if name is None:
        raise BlockedAddress(f"{host!r} is not a valid host name or IP address")
    literal = _ip_literal(name)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            addresses = list(await (resolver or _system_resolve)(name, port))
        except OSError as exc:
            raise ResolutionFailed(f"{name} does not resolve: {exc}") from exc
        if not addresses:
            raise ResolutionFailed(f"{name} does not resolve to any address")
    unique = list(dict.fromkeys(addresses))
    for address in unique:
        reason = _refusal(address)
        if reason is not None and not (allow is not None and allow(name, address)):
            target = name if literal is not None else f"{name} resolves to {address}, which"
            raise BlockedAddress(f"{target} is {reason}")
    return unique


def _split_pattern(pattern: str) -> tuple[str, int | None]:
    """A pattern's host part and optional port; ValueError when it is malformed."""
    pattern = pattern.strip().lower()
    host, port_text, has_port = pattern, "", False
    if pattern.startswith("["):
        host, bracket, rest = pattern[1:].partition("]")
        if not bracket or not isinstance(_ip_literal(host), ipaddress.IPv6Address):
            raise ValueError(f"malformed host pattern {pattern!r}")
        if rest and not rest.startswith(":"):
            raise ValueError(f"malformed host pattern {pattern!r}")
        has_port, port_text = bool(rest), rest[1:]
    elif pattern.count(":") == 1:
        host, _, port_text = pattern.partition(":")
        has_port = True
    port = None
    if has_port:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise ValueError(f"bad port in host pattern {pattern!r}")
        port = int(port_text)
    if host != "*":
        bare = host.removeprefix("*.")
        if normalize_host(bare) is None or (
            host.startswith("*.") and _ip_literal(bare) is not None
        ):
            raise ValueError(f"malformed host pattern {pattern!r}")
    return host, port


def validate_pattern(pattern: str) -> None:
    """Raise ValueError unless `pattern` is an allowlist entry `host_allowed` understands."""
    _split_pattern(pattern)


def _pattern_matches(name: str, port: int, pattern: str) -> bool:
    try:
        pattern_host, pattern_port = _split_pattern(pattern)
    except ValueError:
        return False
    if pattern_port is not None and pattern_port != port:
        return False
    literal = _ip_literal(name)
    if literal is not None:
        return _ip_literal(pattern_host) == literal
    if pattern_host == "*":
        return True
    if pattern_host.startswith("*."):
        return name.endswith(pattern_host[1:])
    return name == normalize_host(pattern_host)


def host_allowed(host: str, port: int, patterns: Sequence[str]) -> bool:
    """True when `host:port` matches an allowlist entry.

    Entries are `api.example.com` (that host), `*.example.com` (its subdomains, not the apex),
    `*` (any host name), each with an optional `:port`; `[v6]:port` brackets IPv6 literals.
    Matching ignores case. An IP literal matches only an entry that lists that address; no
    wildcard covers one. Malformed entries match nothing.
    """
    name = normalize_host(host)
    if name is None:
        return False
    return any(_pattern_matches(name, port, pattern) for pattern in patterns)
