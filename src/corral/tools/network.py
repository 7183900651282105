"""The network of one run in `limited` mode: its own namespace, left only through our proxy.

Each run gets a network namespace holding nothing but `lo`, shared by all of its tool calls. The
one way out is an allowlisting HTTP proxy (`proxy.AllowlistProxy`) on `127.0.0.1:3128` inside
that namespace. Its listening socket is created in the namespace, but the proxy runs here in the
runtime, in the host namespace, so the agent has no forwarder process it could kill or replace.
Traffic that is not HTTP(S) through the proxy (raw TCP, DNS, ssh) has no route and fails closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import hashlib
import logging
import os
import shutil
import socket
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Literal, TypeVar

from corral.sandbox import ssrf
from corral.sandbox.proxy import AllowlistProxy

__all__ = [
    "PROXY_HOST",
    "PROXY_PORT",
    "NetworkPolicy",
    "NetworkUnavailable",
    "RunNetwork",
    "netns_name",
    "netns_supported",
    "sweep_stale",
]

logger = logging.getLogger(__name__)

PROXY_HOST = "127.0.0.1"
PROXY_PORT = 3128
NETNS_DIR = "/run/netns"

_CLONE_NEWNET = 0x40000000

T = TypeVar("T")


class NetworkUnavailable(RuntimeError):
    """The host could not set up or tear down a run's network namespace."""


@dataclass(frozen=True)
class NetworkPolicy:
    """How a run reaches the network: `open` (the host's network) or `limited` (allowed hosts)."""

    mode: Literal["open", "limited"]
    allowed_hosts: tuple[str, ...] = ()
    """Patterns as `ssrf.host_allowed` reads them; only used in `limited` mode."""

    def __post_init__(self) -> None:
        if self.mode not in ("open", "limited"):
            raise ValueError(f"network mode must be 'open' or 'limited', not {self.mode!r}")
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        for pattern in self.allowed_hosts:
            ssrf.validate_pattern(pattern)


def netns_name(run_key: str) -> str:
    """The namespace name of a run: short, stable across retries, and safe for `ip netns`."""
    return "rt-" + hashlib.sha256(run_key.encode()).hexdigest()[:12]


@functools.cache
def netns_supported() -> bool:
    """True when this process may create network namespaces (root, and `ip netns` works)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        return False
    probe = f"corral-probe-{os.getpid()}"
    try:
        added = subprocess.run(["ip", "netns", "add", probe], capture_output=True, timeout=10)
        if added.returncode != 0:
            return False
        deleted = subprocess.run(["ip", "netns", "del", probe], capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return False
    return deleted.returncode == 0


async def _ip(*args: str) -> None:
    process = await asyncio.create_subprocess_exec(
        "ip", *args, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE
    )
    _, stderr = await process.communicate()
    if process.returncode != 0:
        message = stderr.decode(errors="replace").strip()
        raise NetworkUnavailable(f"ip {' '.join(args)} failed: {message}")


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


def _proxy_port_taken() -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((PROXY_HOST, PROXY_PORT))
        except OSError:
            return True
    return False


async def sweep_stale(prefix: str = "rt-") -> int:
    """Delete namespaces named `prefix…` that no live proxy serves; returns how many.

    A namespace whose proxy port still has a listener belongs to a live worker and is kept, so
    several workers on one host can each sweep at startup.
    """
    try:
        names = sorted(name for name in os.listdir(NETNS_DIR) if name.startswith(prefix))
    except FileNotFoundError:
        return 0
    swept = 0
    for name in names:
        path = os.path.join(NETNS_DIR, name)
        with contextlib.suppress(OSError):
            if await _in_netns(path, _proxy_port_taken):
                continue
        await _ip("netns", "del", name)
        swept += 1
        logger.info("stale run network removed", extra={"action": "network.swept", "netns": name})
    return swept


class RunNetwork:
    """The network namespace of one run in `limited` mode and the proxy that is its only exit."""

    def __init__(
        self,
        *,
        run_key: str,
        policy: NetworkPolicy,
        resolver_allow: ssrf.AddressAllow | None = None,
        resolver: ssrf.Resolver | None = None,
    ) -> None:
        """Describe the network; `create` is what builds it."""
        self.run_key = run_key
        self.policy = policy
        self.netns = netns_name(run_key)
        """Name for `ip netns exec` and `nsenter --net=/run/netns/<netns>`."""
        proxy_url = f"http://{PROXY_HOST}:{PROXY_PORT}"
        no_proxy = "localhost,127.0.0.1,::1"
        self.proxy_env: dict[str, str] = {
            "http_proxy": proxy_url,
            "https_proxy": proxy_url,
            "HTTP_PROXY": proxy_url,
            "HTTPS_PROXY": proxy_url,
            "no_proxy": no_proxy,
            "NO_PROXY": no_proxy,
        }
        """Environment for commands of the run, so HTTP clients send traffic to the proxy."""
        self.decisions: list[tuple[str, int, bool]] = []
        """Each policy decision as (host, port, allowed), in order."""
        self._proxy = AllowlistProxy(
            allowed_hosts=policy.allowed_hosts,
            record=self._record,
            resolver_allow=resolver_allow,
            resolver=resolver,
            log_extra={"netns": self.netns},
        )
        self._namespace_inode: int | None = None
        self._closed = False

    @property
    def netns_path(self) -> str:
        """The namespace file, for `nsenter --net=` and `setns`."""
        return os.path.join(NETNS_DIR, self.netns)

    @classmethod
    async def create(
        cls,
        run_key: str,
        policy: NetworkPolicy,
        *,
        resolver_allow: ssrf.AddressAllow | None = None,
        resolver: ssrf.Resolver | None = None,
    ) -> RunNetwork:
        """Create the run's namespace and start its proxy.

        Args:
            run_key: identifies the run; a retry of the same run replaces its old namespace.
            policy: a `limited` policy.
            resolver_allow: lets a host use a non-public address it resolves to (tests).
            resolver: replaces the system resolver (tests).

        Raises:
            ValueError: the policy is not `limited`.
            NetworkUnavailable: the namespace could not be created.
        """
        if policy.mode != "limited":
            raise ValueError("only limited networking gets a run network; open runs use the host's")
        network = cls(
            run_key=run_key, policy=policy, resolver_allow=resolver_allow, resolver=resolver
        )
        if os.path.exists(network.netns_path):
            logger.warning(
                "replacing a leftover run network",
                extra={"action": "network.replaced", "netns": network.netns, "run_key": run_key},
            )
            await _ip("netns", "del", network.netns)
        await _ip("netns", "add", network.netns)
        network._namespace_inode = os.stat(network.netns_path).st_ino
        try:
            await _ip("-n", network.netns, "link", "set", "lo", "up")
            listener = await _in_netns(network.netns_path, _listen)
            await network._proxy.start(listener)
        except BaseException:
            await network.close()
            raise
        logger.info(
            "run network ready",
            extra={"action": "network.created", "netns": network.netns, "run_key": run_key},
        )
        return network

    async def close(self) -> None:
        """Stop the proxy, drop its open connections and delete the namespace."""
        if self._closed:
            return
        self._closed = True
        await self._proxy.close()
        if self._owns_namespace():
            await _ip("netns", "del", self.netns)
        logger.info(
            "run network removed",
            extra={"action": "network.removed", "netns": self.netns, "run_key": self.run_key},
        )

    def _owns_namespace(self) -> bool:
        """False once a retry of the run has replaced this namespace with its own."""
        try:
            return os.stat(self.netns_path).st_ino == self._namespace_inode
        except FileNotFoundError:
            return False

    def _record(self, method: str, host: str, port: int, *, allowed: bool, why: str) -> None:
        """Keep and log one decision; only the method and host:port, never paths or headers."""
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
                "netns": self.netns,
                "run_key": self.run_key,
                "host": host,
                "port": port,
                "method": method,
            },
        )
