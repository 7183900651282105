"""The network of one environment: its own namespace, and the only ways out of it.

Every environment has a network namespace of its own, made by bubblewrap; the host configures
it before the tool server starts, and the agent, with no capabilities, cannot change it.
- `none`: loopback only.
- `limited`: loopback, and an allowlisting HTTP(S) proxy whose listening socket is created in
  the namespace but served here, so the agent has no forwarder process to kill or replace.
- `open`: slirp4netns (a user-mode TCP/IP stack, host loopback disabled) behind nftables rules
  loaded first that refuse the host's own addresses and every private, CGNAT, link-local, ULA,
  documentation and metadata range; without slirp4netns, the proxy with any public host allowed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import fcntl
import ipaddress
import json
import logging
import os
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Literal, TypeVar

from corral.sandbox.egress import EgressPolicy
from corral.sandbox.proxy import AllowlistProxy

__all__ = [
    "DNS_ADDRESS",
    "PROXY_PORT",
    "EnvironmentNetwork",
    "NetworkUnavailable",
    "host_addresses",
    "ruleset",
]

logger = logging.getLogger(__name__)

PROXY_HOST = "127.0.0.1"
PROXY_PORT = 3128
DNS_ADDRESS = "10.0.2.3"
"""slirp4netns's DNS forwarder, the one private address an `open` environment may reach."""
_CLONE_NEWNET = 0x40000000

T = TypeVar("T")

BLOCKED_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16",
    "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
)  # fmt: skip
"""IPv4 ranges no environment may reach: this host, private networks, special and metadata."""
BLOCKED_V6 = (
    "::/127", "::ffff:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64", "2001::/23",
    "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
)  # fmt: skip
"""IPv6 ranges refused, including the forms that embed an IPv4 address (mapped, NAT64, 6to4)."""


class NetworkUnavailable(RuntimeError):
    """The host could not set up an environment's network."""


def ruleset(
    own_addresses: Iterable[str], allowed_private: Iterable[str | tuple[str, int | None]] = ()
) -> str:
    """The nftables rules of an `open` environment's namespace (an `nft -f` script).

    `allowed_private` holds the addresses of the operator's private hosts: bare (every port), or
    with the one port the host's pattern names.
    """
    own4 = [a for a in own_addresses if ipaddress.ip_address(a).version == 4]
    own6 = [a for a in own_addresses if ipaddress.ip_address(a).version == 6]
    accepted: dict[tuple[str, int | None], list[str]] = {}
    for entry in allowed_private:
        address, port = (entry, None) if isinstance(entry, str) else entry
        parsed = ipaddress.ip_address(address)
        family = "ip" if parsed.version == 4 else "ip6"
        accepted.setdefault((family, port), []).append(str(parsed))
    lines = [
        "table inet corral {",
        "  chain egress {",
        "    type filter hook output priority filter; policy accept;",
        '    oifname "lo" accept',
        f"    ip daddr {DNS_ADDRESS} meta l4proto {{ tcp, udp }} th dport 53 accept",
    ]
    for (family, port), addresses in accepted.items():
        only = f" meta l4proto {{ tcp, udp }} th dport {port}" if port is not None else ""
        lines.append(f"    {family} daddr {{ {', '.join(addresses)} }}{only} accept")
    lines.append(f"    ip daddr {{ {', '.join([*BLOCKED_V4, *own4])} }} {_REJECT}")
    lines.append(f"    ip6 daddr {{ {', '.join([*BLOCKED_V6, *own6])} }} {_REJECT}")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


_REJECT = "counter reject with icmpx type admin-prohibited"


async def host_addresses() -> list[str]:
    """Every address of this host's interfaces (`ip -j addr`)."""
    ip = shutil.which("ip")
    if ip is None:
        return []
    process = await asyncio.create_subprocess_exec(
        ip, "-j", "addr", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
    )
    stdout, _ = await process.communicate()
    try:
        interfaces = json.loads(stdout or b"[]")
    except ValueError:
        return []
    found = []
    for interface in interfaces:
        for info in interface.get("addr_info", []):
            local = str(info.get("local", "")).partition("%")[0]
            with contextlib.suppress(ValueError):
                found.append(str(ipaddress.ip_address(local)))
    return sorted(set(found))


class EnvironmentNetwork:
    """What the host runs for one environment's network, stopped with it."""

    def __init__(self, policy: EgressPolicy, *, label: str) -> None:
        self.policy = policy
        self.label = label
        self.proxy_env: dict[str, str] = {}
        """Variables for commands, so HTTP clients use the proxy (proxy modes only)."""
        self.decisions: list[tuple[str, int, bool]] = []
        """Each proxy decision as (host, port, allowed), in order."""
        self._proxy: AllowlistProxy | None = None
        self._slirp: asyncio.subprocess.Process | None = None
        self._slirp_exit: int | None = None

    @classmethod
    async def attach(
        cls,
        policy: EgressPolicy,
        pid: int,
        *,
        label: str,
        via: Literal["slirp4netns", "proxy"],
        own_addresses: list[str],
    ) -> EnvironmentNetwork:
        """Configure the namespace of process `pid` for `policy`, before the agent starts.

        Raises:
            NetworkUnavailable: the host could not configure it.
        """
        network = cls(policy, label=label)
        namespace = f"/proc/{pid}/ns/net"
        try:
            # bubblewrap announces the sandbox before it has set its loopback up; configuring
            # the namespace meanwhile would race with it.
            if not await _in_netns(namespace, _wait_for_loopback):
                raise NetworkUnavailable("the sandbox's loopback never came up")
            if policy.mode == "limited":
                await network._serve_proxy(namespace, policy.allowed_hosts)
            elif policy.mode == "open" and via == "proxy":
                await network._serve_proxy(namespace, None)
            elif policy.mode == "open":
                private = await _resolve_all(policy.private_hosts)
                # Both before the agent starts; neither needs the other.
                await asyncio.gather(
                    _load_rules(namespace, ruleset(own_addresses, private)),
                    network._start_slirp(namespace),
                )
        except BaseException:
            await network.close()
            raise
        return network

    async def _serve_proxy(self, namespace: str, allowed: tuple[str, ...] | None) -> None:
        self._proxy = AllowlistProxy(
            allowed_hosts=allowed,
            record=self._record,
            private_hosts=self.policy.private_hosts,
            resolver=self.policy.resolver,
            log_extra={"environment": self.label},
        )
        try:
            listener = await _in_netns(namespace, _listen)
        except OSError as error:
            raise NetworkUnavailable(
                f"cannot listen in the environment's network: {error}"
            ) from None
        await self._proxy.start(listener)
        url = f"http://{PROXY_HOST}:{PROXY_PORT}"
        no_proxy = "localhost,127.0.0.1,::1"
        self.proxy_env = {
            "http_proxy": url, "https_proxy": url, "HTTP_PROXY": url, "HTTPS_PROXY": url,
            "no_proxy": no_proxy, "NO_PROXY": no_proxy,
        }  # fmt: skip

    async def _start_slirp(self, namespace: str) -> None:
        slirp, unshare = shutil.which("slirp4netns"), shutil.which("unshare")
        if slirp is None or unshare is None:
            raise NetworkUnavailable("slirp4netns and unshare are needed for an open network")
        ready_read, ready_write = os.pipe()
        exit_read, exit_write = os.pipe()
        try:
            # In a mount namespace whose mounts are all private: slirp4netns's sandbox, run as
            # root, makes only / private before it detaches the old root, so the unmounts would
            # reach the host's shared mounts (every `ip netns` namespace under /run/netns).
            self._slirp = await asyncio.create_subprocess_exec(
                unshare, "--mount", "--propagation", "private", "--",
                slirp, "--configure", "--mtu=65520", "--disable-host-loopback",
                "--enable-sandbox", "--enable-seccomp", "--ready-fd", str(ready_write),
                "--exit-fd", str(exit_read), "--netns-type=path", namespace, "tap0",
                pass_fds=(ready_write, exit_read), stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
            )  # fmt: skip
        except OSError:
            os.close(exit_write)
            raise
        finally:
            os.close(ready_write)
            os.close(exit_read)
        self._slirp_exit = exit_write  # closing it (or our death) makes slirp4netns exit
        try:
            ready = await asyncio.wait_for(asyncio.to_thread(os.read, ready_read, 1), 10)
        except TimeoutError:
            ready = b""
        finally:
            os.close(ready_read)
        if ready != b"1":
            raise NetworkUnavailable("slirp4netns did not come up")

    async def close(self) -> None:
        """Stop the proxy or the user-mode stack."""
        if self._proxy is not None:
            await self._proxy.close()
            self._proxy = None
        if self._slirp_exit is not None:
            os.close(self._slirp_exit)
            self._slirp_exit = None
        if self._slirp is not None:
            try:
                await asyncio.wait_for(self._slirp.wait(), 5)
            except TimeoutError:
                self._slirp.kill()
                await self._slirp.wait()
            self._slirp = None

    def _record(self, method: str, host: str, port: int, *, allowed: bool, why: str) -> None:
        """Keep and log one proxy decision; only the method and host:port, never paths."""
        self.decisions.append((host, port, allowed))
        verdict = "allow" if allowed else "deny"
        logger.info(
            "network %s %s %s:%d (%s)",
            verdict,
            method,
            host,
            port,
            why,
            extra={
                "action": f"network.{verdict}",
                "environment": self.label,
                "host": host,
                "port": port,
                "method": method,
            },
        )


async def _resolve_all(hosts: Iterable[str]) -> list[tuple[str, int | None]]:
    """Addresses of the operator's named private hosts, each with the port its pattern names.

    Patterns with `*` are skipped: a firewall cannot follow names.
    """
    found: list[tuple[str, int | None]] = []
    for pattern in hosts:
        host, port = _host_and_port(pattern)
        if "*" in host:
            continue
        with contextlib.suppress(OSError):
            for info in await asyncio.get_running_loop().getaddrinfo(host, None):
                found.append((str(info[4][0]).partition("%")[0], port))
    return list(dict.fromkeys(found))


def _host_and_port(pattern: str) -> tuple[str, int | None]:
    """The host and optional port of a (validated) host pattern: `h`, `h:443`, `[v6]:443`."""
    if pattern.startswith("["):
        host, _, rest = pattern[1:].partition("]")
        return host, int(rest[1:]) if rest else None
    if pattern.count(":") == 1:
        host, _, port = pattern.partition(":")
        return host, int(port)
    return pattern, None


async def _load_rules(namespace: str, rules: str) -> None:
    """Load an nftables script into the namespace (nft runs from a thread inside it)."""
    nft = shutil.which("nft")
    if nft is None:
        raise NetworkUnavailable("nft is needed to filter an open network")

    def load() -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            [nft, "-f", "-"], input=rules.encode(), capture_output=True, timeout=10, check=False
        )

    loaded = await _in_netns(namespace, load)
    if loaded.returncode != 0:
        raise NetworkUnavailable(f"nft refused the rules: {loaded.stderr.decode(errors='replace')}")


def _setns(fd: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, _CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


async def _in_netns(path: str, function: Callable[[], T]) -> T:
    """Call `function` on a throwaway thread that has joined the network namespace at `path`.

    Sockets belong to the namespace they are created in, whichever thread later uses them.
    """

    def enter_and_call() -> T:
        home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            target = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                _setns(target)
            finally:
                os.close(target)
            try:
                return function()
            finally:
                _setns(home)  # the thread is discarded anyway; this is a second guard
        finally:
            os.close(home)

    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="corral-netns")
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, enter_and_call)
    finally:
        pool.shutdown(wait=False)


def _wait_for_loopback(timeout_s: float = 5.0) -> bool:
    """Wait (on a thread in the namespace) until `lo` is up and has its address."""
    deadline = time.monotonic() + timeout_s
    request = struct.pack("16sH14x", b"lo", 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                flags = struct.unpack("16sH", fcntl.ioctl(sock, _SIOCGIFFLAGS, request)[:18])[1]
                if flags & _IFF_UP:
                    fcntl.ioctl(sock, _SIOCGIFADDR, request)  # raises until the address is set
                    return True
            time.sleep(0.0005)
    return False


_SIOCGIFFLAGS = 0x8913
_SIOCGIFADDR = 0x8915
_IFF_UP = 0x1


def _listen() -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((PROXY_HOST, PROXY_PORT))
        sock.listen(128)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock
