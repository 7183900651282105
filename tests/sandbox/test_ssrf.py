"""The SSRF guard: which addresses count as public, how hosts resolve, how allowlists match."""

from __future__ import annotations

import ipaddress
import socket

import pytest

from corral.sandbox.ssrf import (
    BlockedAddress,
    IPAddress,
    ResolutionFailed,
    host_allowed,
    is_own_address,
    is_public,
    normalize_host,
    resolve_public,
    validate_pattern,
    why_not_public,
)

ip = ipaddress.ip_address

NOT_PUBLIC = [
    ("10.1.2.3", "private"),
    ("172.16.0.1", "private"),
    ("172.31.255.254", "private"),
    ("192.168.1.1", "private"),
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("169.254.1.1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("169.254.169.254", "cloud metadata"),
    ("fd00:ec2::254", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("192.0.0.192", "cloud metadata"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("100.127.255.254", "carrier-grade NAT"),
    ("0.0.0.0", "unspecified"),
    ("::", "unspecified"),
    ("::ffff:127.0.0.1", "loopback"),
    ("::ffff:10.0.0.1", "private"),
    ("::ffff:169.254.169.254", "cloud metadata"),
    ("2002:7f00:1::", "loopback"),  # 6to4 wrapping of 127.0.0.1
    ("64:ff9b::a00:1", "private"),  # NAT64 of 10.0.0.1
    ("224.0.0.1", "multicast"),
    ("239.255.255.250", "multicast"),
    ("ff02::1", "multicast"),
    ("255.255.255.255", "private"),
    ("240.0.0.1", "private"),
    ("fec0::1", "site-local"),
    ("2001:db8::1", "private"),
    ("::7f00:1", "reserved"),
    ("192.0.2.10", "private"),
]

PUBLIC = [
    "8.8.8.8",
    "1.1.1.1",
    "93.184.215.14",
    "2606:4700::1111",
    "::ffff:8.8.8.8",
    "64:ff9b::808:808",
]


@pytest.mark.parametrize(("address", "kind"), NOT_PUBLIC, ids=[a for a, _ in NOT_PUBLIC])
def test_non_public_addresses_are_refused_with_their_kind(address: str, kind: str) -> None:
    assert not is_public(ip(address))
    assert why_not_public(ip(address)) == kind


@pytest.mark.parametrize("address", PUBLIC)
def test_public_addresses_pass(address: str) -> None:
    assert is_public(ip(address))
    assert why_not_public(ip(address)) is None


def test_the_hosts_own_addresses_are_known_as_its_own() -> None:
    from tests.sandbox.test_egress import own_addresses

    unscoped = [a for a in own_addresses() if not ip(a).is_link_local]  # fe80:: needs a zone
    for address in ["127.0.0.1", "127.0.0.2", "::ffff:127.0.0.1", *unscoped]:
        assert is_own_address(ip(address)), address
    for address in ["8.8.8.8", "2606:4700::1111", "::ffff:8.8.8.8", "203.0.113.9"]:
        assert not is_own_address(ip(address)), address


async def test_localhost_is_refused_through_the_system_resolver() -> None:
    with pytest.raises(BlockedAddress, match=r"localhost resolves to .*loopback"):
        await resolve_public("localhost", 80)
    with pytest.raises(BlockedAddress, match="loopback"):
        await resolve_public("LocalHost.", 80)


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "10.0.0.8", "[::1]", "169.254.169.254", "[::ffff:7f00:1]"]
)
async def test_ip_literals_are_judged_without_resolving(host: str) -> None:
    async def resolver(name: str, port: int) -> list[IPAddress]:
        raise AssertionError("an IP literal must not be resolved")

    with pytest.raises(BlockedAddress, match="address"):
        await resolve_public(host, 443, resolver=resolver)


async def test_public_ip_literal_is_returned_as_is() -> None:
    assert await resolve_public("8.8.8.8", 53) == [ip("8.8.8.8")]
    assert await resolve_public("[2606:4700::1111]", 443) == [ip("2606:4700::1111")]


async def test_one_private_answer_refuses_the_whole_host() -> None:
    async def rebinding(name: str, port: int) -> list[IPAddress]:
        return [ip("93.184.215.14"), ip("10.0.0.5")]

    with pytest.raises(BlockedAddress, match=r"example\.com resolves to 10\.0\.0\.5.*private"):
        await resolve_public("example.com", 443, resolver=rebinding)


async def test_public_answers_are_returned_once_each_in_order() -> None:
    async def resolver(name: str, port: int) -> list[IPAddress]:
        return [
            ip("93.184.215.14"),
            ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
            ip("93.184.215.14"),
        ]

    assert await resolve_public("example.com", 443, resolver=resolver) == [
        ip("93.184.215.14"),
        ip("2606:2800:21f:cb07:6820:80da:af6b:8b2c"),
    ]


async def test_allow_lets_a_named_host_use_a_private_address() -> None:
    seen: list[tuple[str, object]] = []

    def allow(host: str, address: IPAddress) -> bool:
        seen.append((host, address))
        return host == "localhost" and address.is_loopback

    addresses = await resolve_public("LOCALHOST", 80, allow=allow)
    assert addresses and all(a.is_loopback for a in addresses)
    assert {host for host, _ in seen} == {"localhost"}
    with pytest.raises(BlockedAddress):
        await resolve_public("10.0.0.1", 80, allow=allow)


async def test_unresolvable_name_fails_as_a_resolution_error() -> None:
    async def nxdomain(name: str, port: int) -> list[IPAddress]:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    with pytest.raises(ResolutionFailed, match=r"nowhere\.test does not resolve"):
        await resolve_public("nowhere.test", 80, resolver=nxdomain)


@pytest.mark.parametrize(
    "host", ["exa mple.com", "a..b", "-bad.com", "x" * 64 + ".com", "fe80::1%eth0", ""]
)
async def test_malformed_host_is_refused(host: str) -> None:
    assert normalize_host(host) is None
    with pytest.raises(BlockedAddress, match="not a valid host"):
        await resolve_public(host, 80)


ALLOWLIST_CASES = [  # host, port, patterns, whether allowed
    ("api.example.com", 443, ["api.example.com"], True),
    ("API.Example.COM.", 443, ["api.example.com"], True),
    ("api.example.com", 443, ["API.EXAMPLE.COM"], True),
    ("www.example.com", 443, ["api.example.com"], False),
    ("example.com", 443, ["api.example.com"], False),
    ("a.example.com", 443, ["*.example.com"], True),
    ("a.b.example.com", 80, ["*.example.com"], True),
    ("example.com", 443, ["*.example.com"], False),
    ("example.com", 443, ["*.example.com", "example.com"], True),
    ("badexample.com", 443, ["*.example.com"], False),
    ("example.com.evil.net", 443, ["*.example.com"], False),
    ("api.example.com", 443, ["api.example.com:443"], True),
    ("api.example.com", 8443, ["api.example.com:443"], False),
    ("a.example.com", 8080, ["*.example.com:8080"], True),
    ("a.example.com", 80, ["*.example.com:8080"], False),
    ("anything.org", 443, ["*"], True),
    ("127.0.0.1", 80, ["*"], False),
    ("127.0.0.1", 80, ["*.0.0.1"], False),
    ("127.0.0.1", 80, ["127.0.0.1"], True),
    ("127.0.0.1", 80, ["127.0.0.1:8080"], False),
    ("::1", 443, ["[::1]:443"], True),
    ("[::1]", 443, ["0:0::1"], True),
    ("2130706433", 80, ["127.0.0.1"], False),
    ("api.example.com", 443, [], False),
    ("exa mple.com", 443, ["*"], False),
    ("api.example.com", 443, ["bad pattern!", "api.example.com"], True),
]


@pytest.mark.parametrize(
    ("host", "port", "patterns", "allowed"),
    ALLOWLIST_CASES,
    ids=[f"{h}:{p}-{'|'.join(pats) or 'none'}" for h, p, pats, _ in ALLOWLIST_CASES],
)
def test_host_allowed(host: str, port: int, patterns: list[str], allowed: bool) -> None:
    assert host_allowed(host, port, patterns) is allowed


@pytest.mark.parametrize(
    "pattern",
    ["exa mple.com", "*.10.0.0.1", "host:99999", "host:", "*.*.a.com", "[::1", "[example.com]:80"],
)
def test_malformed_patterns_are_rejected(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        validate_pattern(pattern)
