"""Environments' networks end to end: what commands inside can reach, in each networking mode.

Every test starts real environments and runs curl, bash's /dev/tcp and Python sockets in them.
The targets are real too: listeners on this host's own addresses, its PostgreSQL and Redis, and a
fake internet: a network namespace of the test's own, with public-looking addresses on its
loopback that the host routes to over a veth pair. `open` environments (slirp4netns connects from
the host) and the `limited` proxy (served by this process) reach it as they would a public server;
a name reaches it through the proxy's resolver hook.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import dataclasses
import ipaddress
import logging
import os
import random
import secrets
import shlex
import shutil
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import Environment, EnvironmentSpec
from corral.sandbox.host import Host
from corral.sandbox.network import PROXY_PORT, host_addresses
from corral.sandbox.ssrf import IPAddress
from tests.sandbox.conftest import CAPS, bash, needs_root, needs_sandbox, needs_slirp, output

pytestmark = [needs_sandbox, needs_root]

needs_netns = pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("ip") is None,
    reason="needs root and iproute2 to build a fake internet (a namespace and a veth pair)",
)

T = TypeVar("T")

BODY = "hello from the fake internet"
SITE, OTHER, LOOPY = "site.test", "other.test", "loopy.test"
PROXY = f"http://127.0.0.1:{PROXY_PORT}"
REFUSED = "blocked by sandbox network policy"
SERVICES = [("127.0.0.1", 5432), ("127.0.0.1", 6379), ("::1", 6379)]
"""PostgreSQL and Redis as this host runs them; those that answer here are probed."""
FAILURES = {"ECONNREFUSED", "ENETUNREACH", "EHOSTUNREACH"}
"""How a connection that is refused at once fails (a drop would time out instead)."""
# Addresses the tests put on this host or route from it, in ranges kept apart so that concurrent
# tests (and concurrent test sessions) never route one another's addresses.
TRANSIT = ipaddress.ip_network("10.213.0.0/17")
"""Veth /30s between the host and a fake internet."""
PRIVATE_SERVERS = ("10.213.200.{}", "172.31.213.{}", "192.168.213.{}", "100.64.213.{}")
"""RFC 1918 and CGNAT addresses a fake internet serves (`{}` is a random octet)."""
PUBLIC_SERVERS = "93.184.216.{}"
OWN_PUBLIC = "93.184.215.{}"
"""A public-looking address given to this host itself (on a fake internet's veth)."""
TEST_MADE = (TRANSIT, ipaddress.ip_network(OWN_PUBLIC.format(0) + "/24"))
"""Where the addresses the tests put on this host are (and may vanish from at any time)."""

MODES: list[Any] = [
    pytest.param("none", id="none"),
    pytest.param("limited", id="limited"),
    pytest.param("open", id="open", marks=needs_slirp),
]


def host_of(address: str) -> str:
    """`address` as the host part of a URL."""
    return f"[{address}]" if ":" in address else address


def resolving(names: dict[str, str]) -> Callable[[str, int], Awaitable[list[IPAddress]]]:
    """A resolver hook for the proxy that knows `names` only."""

    async def resolve(host: str, port: int) -> list[IPAddress]:
        if host not in names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(names[host])]

    return resolve


def closed_port() -> int:
    """A port nothing listens on, on any address of this host (as far as one can tell)."""
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        probe.bind(("::", 0))
        return int(probe.getsockname()[1])


def listening_socket(address: str, port: int = 0) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.create_server((address, port), family=family)
    sock.setblocking(False)
    return sock


@dataclass
class Listener:
    """A bare listening socket; nothing ever accepts on it but `was_reached`."""

    address: str
    port: int
    sock: socket.socket

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"

    def was_reached(self) -> bool:
        """Whether a connection is waiting (taking it off the queue)."""
        try:
            connection, _ = self.sock.accept()
        except BlockingIOError:
            return False
        connection.close()
        return True


def listening_services() -> list[str]:
    """The PostgreSQL and Redis endpoints of SERVICES that accept a connection from here."""
    found = []
    for address, port in SERVICES:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=2):
            found.append(f"{address}:{port}")
    return found


# --- running things inside ---------------------------------------------------------------------

PROBE = """
import errno, socket, sys, time
for target in sys.argv[1:]:
    address, _, port = target.rpartition(":")
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    started = time.monotonic()
    with socket.socket(family) as sock:
        sock.settimeout(5)
        try:
            sock.connect((address, int(port)))
            outcome = "connected"
        except OSError as error:
            outcome = errno.errorcode.get(error.errno or 0, type(error).__name__)
    print(target, "python", outcome, "slow" if time.monotonic() - started > 2 else "fast")
"""
"""Connects to each `address:port` argument; prints how it went and whether it took long."""


async def probe(environment: Environment, targets: list[str]) -> dict[str, dict[str, str]]:
    """How curl, bash's /dev/tcp and a Python socket fare with each target, inside, by tool."""
    listed = " ".join(shlex.quote(target) for target in targets)
    command = (
        f"for target in {listed}; do\n"
        "  address=${target%:*}; port=${target##*:}; host=$address\n"
        '  [[ $address == *:* ]] && host="[$address]"\n'
        "  curl -sS --noproxy '*' -m 5 -o /dev/null \"http://$host:$port/\" 2>/dev/null\n"
        '  echo "$target curl $?"\n'
        '  timeout 5 bash -c "exec 3<>/dev/tcp/$address/$port" 2>/tmp/err\n'
        "  echo \"$target bash $? $(tail -n 1 /tmp/err | sed 's/.*: //')\"\n"
        "done\n"
        f"python3 -c {shlex.quote(PROBE)} {listed}"
    )
    seen: dict[str, dict[str, str]] = {"curl": {}, "bash": {}, "python": {}}
    for line in (await output(environment, command, timeout_s=120)).splitlines():
        target, tool, outcome = line.split(" ", 2)
        seen[tool][target] = outcome
    assert all(set(by_target) == set(targets) for by_target in seen.values()), seen
    return seen


def assert_all_refused_at_once(seen: dict[str, dict[str, str]], targets: list[str]) -> None:
    """Every tool failed to connect to every target, and at once (no drop, no timeout)."""
    for target in targets:
        assert seen["curl"][target] == "7", (target, seen)  # curl: couldn't connect
        code, _, why = seen["bash"][target].partition(" ")
        assert code == "1", (target, seen)
        assert why in {"Connection refused", "Network is unreachable", "No route to host"}, (
            target,
            seen,
        )
        errno_name, speed = seen["python"][target].split()
        assert errno_name in FAILURES, (target, seen)
        assert speed == "fast", (target, seen)


def assert_same_for_every_port(seen: dict[str, dict[str, str]], targets: list[str]) -> None:
    """Each tool saw the same outcome for all these targets (one address, several ports)."""
    for tool, by_target in seen.items():
        outcomes = {by_target[target] for target in targets}
        assert len(outcomes) == 1, (tool, {t: by_target[t] for t in targets})


async def curl(environment: Environment, *args: str) -> tuple[int, str]:
    """Curl inside with `args` (stderr included); its exit code and output, then the status."""
    answer = await bash(
        environment,
        shlex.join(["curl", "-sS", "-m", "10", "-w", "\n%{http_code}", *args]) + " 2>&1",
    )
    return int(answer["exit_code"]), str(answer["output"])


# --- servers -----------------------------------------------------------------------------------

Respond = Callable[["Site", asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class Site:
    """A server the tests start; it records what reaches it."""

    address: str
    port: int
    hits: list[tuple[str, str]] = field(default_factory=list)
    """Path and Host header of each request, in order."""
    connections: int = 0
    ended: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a held connection has seen its end (`hold` only)."""

    @property
    def target(self) -> str:
        return f"{self.address}:{self.port}"


async def answer(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Answer one HTTP request with BODY."""
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = dict(line.partition(":")[::2] for line in head[1:] if line)
    site.hits.append((head[0].split(" ")[1], headers.get("Host", "").strip()))
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(BODY), BODY.encode()))
    await writer.drain()


async def hold(site: Site, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Say nothing; note when the other side is done, and keep this side open regardless."""
    with contextlib.suppress(OSError):
        await reader.read()
    site.ended.set()
    await asyncio.Event().wait()


class Servers:
    """Servers on sockets the tests made; `close` ends them and every connection they took."""

    def __init__(self) -> None:
        self._servers: list[asyncio.Server] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._transports: set[asyncio.BaseTransport] = set()

    async def serve(
        self, sock: socket.socket, respond: Respond = answer, tls: ssl.SSLContext | None = None
    ) -> Site:
        host, port = sock.getsockname()[:2]
        site = Site(address=host, port=port)
        transports = self._transports

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            self._tasks.add(task)
            site.connections += 1
            try:
                if tls is not None:  # here rather than in the server: a handshake is ours too
                    await writer.start_tls(tls)
                await respond(site, reader, writer)
            except (OSError, asyncio.IncompleteReadError, ssl.SSLError):
                pass
            finally:
                try:
                    writer.close()
                    with contextlib.suppress(OSError, ssl.SSLError, TimeoutError):
                        await asyncio.wait_for(writer.wait_closed(), 2)
                finally:
                    writer.transport.abort()  # a no-op, unless a TLS peer never answered

        class Tracked(asyncio.StreamReaderProtocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                transports.add(transport)
                super().connection_made(transport)

        self._servers.append(
            await asyncio.get_running_loop().create_server(
                lambda: Tracked(asyncio.StreamReader(), handle), sock=sock
            )
        )
        return site

    async def close(self) -> None:
        for server in self._servers:
            server.close()
        await asyncio.sleep(0.1)  # connections accepted just before get their handlers
        for transport in self._transports:
            if isinstance(transport, asyncio.WriteTransport):
                transport.abort()
        while self._tasks:
            tasks, self._tasks = self._tasks, set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
        await asyncio.sleep(0)  # the aborted transports let go of their sockets
        for server in self._servers:
            await server.wait_closed()


# --- the fake internet -------------------------------------------------------------------------


async def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    process = await asyncio.create_subprocess_exec(
        *argv, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    stdout, stderr = await process.communicate()
    assert process.returncode is not None
    done = subprocess.CompletedProcess(argv, process.returncode, stdout.decode(), stderr.decode())
    if check and done.returncode != 0:
        raise RuntimeError(f"{shlex.join(argv)}: {done.stderr.strip()}")
    return done


async def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return await run("ip", *args, check=check)


_CLONE_NEWNET = 0x40000000


async def inside(namespace: str, make: Callable[[], T]) -> T:
    """`make()` called on a thread of its own that has joined `namespace` (sockets stay there)."""

    def enter_and_make() -> T:
        fd = os.open(namespace, os.O_RDONLY | os.O_CLOEXEC)
        try:
            if ctypes.CDLL(None, use_errno=True).setns(fd, _CLONE_NEWNET) != 0:
                raise OSError(ctypes.get_errno(), "setns")
        finally:
            os.close(fd)
        return make()

    pool = ThreadPoolExecutor(max_workers=1)  # its one thread is never reused
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, enter_and_make)
    finally:
        pool.shutdown(wait=False)


class Internet:
    """A network namespace standing in for the internet, routed to from the host over a veth.

    A process of the test's own holds the namespace (not a name under /run/netns), reading its
    stdin until the test closes it or dies: nothing of it can outlive the test. Its addresses sit
    on its loopback, each with a host route via the veth; every address and subnet is claimed by
    adding its route, which fails when another test holds it.
    """

    def __init__(self) -> None:
        token = secrets.token_hex(4)
        self.veth, self.peer = f"crl{token}h", f"crl{token}n"
        self.namespace = ""
        """The path of the namespace (its holder's)."""
        self.gateway = ""
        """The namespace's end of the veth pair."""
        self.address = ""
        """Its first public-looking address."""
        self.servers = Servers()
        self._sockets: list[socket.socket] = []
        self._holder: asyncio.subprocess.Process | None = None

    async def open(self) -> None:
        self._holder = await asyncio.create_subprocess_exec(
            "unshare", "--net", "--", "sh", "-c", "echo; exec cat > /dev/null",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert self._holder.stdout is not None
        await asyncio.wait_for(self._holder.stdout.readline(), 10)  # it is in its namespace
        pid = str(self._holder.pid)
        self.namespace = f"/proc/{pid}/ns/net"
        await ip("link", "add", self.veth, "type", "veth", "peer", "name", self.peer, "netns", pid)
        await ip("link", "set", self.veth, "up")
        subnet = ipaddress.ip_network(
            await self._claim(
                lambda: f"{TRANSIT[4 * random.randrange(TRANSIT.num_addresses // 4)]}/30"
            )
        )
        here, there = str(subnet[1]), str(subnet[2])
        await ip("addr", "add", f"{here}/30", "dev", self.veth, "noprefixroute")
        await self.ip("link", "set", "lo", "up")
        await self.ip("addr", "add", f"{there}/30", "dev", self.peer)
        await self.ip("link", "set", self.peer, "up")
        await self.ip("route", "add", "default", "via", here)
        self.gateway = there
        self.address = await self.add_address(PUBLIC_SERVERS)

    async def ip(self, *args: str) -> subprocess.CompletedProcess[str]:
        """`ip` inside the namespace."""
        return await run("nsenter", f"--net={self.namespace}", "ip", *args)

    async def add_address(self, pattern: str) -> str:
        """A free address of `pattern` (its `{}` a random octet) on the namespace's loopback."""
        claimed = await self._claim(
            lambda: pattern.format(random.randrange(1, 255)) + "/32", "via", self.gateway
        )
        await self.ip("addr", "add", claimed, "dev", "lo")
        return claimed.partition("/")[0]

    async def _claim(self, pick: Callable[[], str], *via: str) -> str:
        """Add a host route to a destination `pick` returns; one taken already means try again."""
        for _ in range(64):
            destination = pick()
            added = await ip("route", "add", destination, *via, "dev", self.veth, check=False)
            if added.returncode == 0:
                return destination
            if "File exists" not in added.stderr:
                raise RuntimeError(f"cannot route {destination}: {added.stderr.strip()}")
        raise RuntimeError("no free destination found")

    async def listen(self, address: str | None = None, port: int = 0) -> socket.socket:
        """A listening socket in the namespace, at `address` (its public one by default)."""
        sock = await inside(self.namespace, lambda: listening_socket(address or self.address, port))
        self._sockets.append(sock)
        return sock

    async def listener(self, address: str | None = None, port: int = 0) -> Listener:
        sock = await self.listen(address, port)
        host, bound = sock.getsockname()[:2]
        return Listener(host, bound, sock)

    async def serve(
        self,
        respond: Respond = answer,
        *,
        address: str | None = None,
        tls: ssl.SSLContext | None = None,
    ) -> Site:
        return await self.servers.serve(await self.listen(address), respond, tls)

    async def close(self) -> None:
        await self.servers.close()
        for sock in self._sockets:
            sock.close()
        # Deleting one end deletes the pair and every route through it; the namespace goes with
        # its holder, as nothing else (no socket) holds it any more.
        await ip("link", "del", self.veth, check=False)
        if self._holder is not None:
            assert self._holder.stdin is not None
            self._holder.stdin.close()
            try:
                await asyncio.wait_for(self._holder.wait(), 10)
            except TimeoutError:
                self._holder.kill()
                await self._holder.wait()


@pytest.fixture
async def internet() -> AsyncIterator[Internet]:
    """A fake internet of the test's own, with nothing served yet."""
    made = Internet()
    try:
        await made.open()
        yield made
    finally:
        await made.close()
    assert (await ip("link", "show", made.veth, check=False)).returncode != 0


@pytest.fixture
async def site(internet: Internet) -> Site:
    """An HTTP server at the fake internet's public address."""
    return await internet.serve()


@pytest.fixture
async def host_listeners() -> AsyncIterator[list[Listener]]:
    """A listener on each of this host's addresses (link-local ones, which need a zone, aside)."""
    listeners: list[Listener] = []
    try:
        for address in await host_addresses():
            parsed = ipaddress.ip_address(address)
            if parsed.is_link_local or any(parsed in network for network in TEST_MADE):
                continue
            sock = listening_socket(address)
            listeners.append(Listener(address, sock.getsockname()[1], sock))
        yield listeners
    finally:
        for listener in listeners:
            listener.sock.close()


@pytest.fixture
async def loopback_site() -> AsyncIterator[Site]:
    """An HTTP server on this host's loopback."""
    servers = Servers()
    try:
        yield await servers.serve(listening_socket("127.0.0.1"))
    finally:
        await servers.close()


@pytest.fixture
async def own_public_address(internet: Internet) -> AsyncIterator[Listener]:
    """A public-looking address of this host's own, listened on.

    It sits on the host's end of a fake internet's veth, so it goes with it (even when the test
    process dies). Request it before `start`, so the host of the environments counts it as its own.
    """
    taken = set(await host_addresses())
    address = next(
        candidate
        for candidate in (OWN_PUBLIC.format(random.randrange(1, 255)) for _ in range(1000))
        if candidate not in taken
    )
    await ip("addr", "add", f"{address}/32", "dev", internet.veth)
    sock = listening_socket(address)
    try:
        yield Listener(address, sock.getsockname()[1], sock)
    finally:
        sock.close()


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for site.test (cert.pem, key.pem); its PEM is curl's CA file."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-keyout", str(tmp_path / "key.pem"),
         "-out", str(tmp_path / "cert.pem"), "-subj", f"/CN={SITE}",
         "-addext", f"subjectAltName=DNS:{SITE}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


@pytest.fixture
async def tls_site(internet: Internet, certificate: Path) -> Site:
    """An HTTPS server for site.test at the fake internet's public address."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    return await internet.serve(tls=context)


def with_file(path: str, text: str, command: str) -> str:
    """`command`, preceded by writing `text` to `path` inside."""
    return f"cat > {path} <<'CORRAL_EOF'\n{text}CORRAL_EOF\n{command}"


def limited(site: Site | None = None, **fields: Any) -> EgressPolicy:
    """A `limited` policy for site.test, whose proxy resolves site.test and other.test to `site`."""
    names = {SITE: site.address, OTHER: site.address} if site else {}
    fields.setdefault("allowed_hosts", (SITE,))
    fields.setdefault("resolver", resolving(names))
    return EgressPolicy(mode="limited", **fields)


# --- 1. the host: its loopback, its addresses, its services ------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_the_hosts_addresses_and_services_are_out_of_reach_and_open_ports_look_closed(
    mode, start, host_listeners
):
    closed = closed_port()
    by_address: dict[str, list[str]] = {}
    for target in [listener.target for listener in host_listeners] + listening_services():
        by_address.setdefault(target.rpartition(":")[0], []).append(target)
    for address, targets in by_address.items():
        targets.append(f"{address}:{closed}")
    if mode == "open":  # slirp4netns's gateway would be the host's loopback; it is disabled
        loopback = next(listener for listener in host_listeners if listener.address == "127.0.0.1")
        by_address["10.0.2.2"] = [
            f"10.0.2.2:{port}" for port in (loopback.port, 5432, 6379, closed)
        ]
    targets = [target for group in by_address.values() for target in group]
    environment = await start(network=EgressPolicy(mode=mode, allowed_hosts=("*",)))

    seen = await probe(environment, targets)

    assert {"127.0.0.1", "::1"} <= set(by_address)
    assert_all_refused_at_once(seen, targets)
    for group in by_address.values():
        assert_same_for_every_port(seen, group)
    assert [listener.target for listener in host_listeners if listener.was_reached()] == []


@pytest.mark.parametrize("allowed", ["wildcard", "listed"])
async def test_the_proxy_refuses_the_hosts_addresses_and_services_whether_open_or_closed(
    allowed, start, host_listeners
):
    closed = closed_port()
    loopback = next(listener for listener in host_listeners if listener.address == "127.0.0.1")
    by_host: dict[str, list[int]] = {"localhost": [loopback.port, 5432, closed]}
    for target in [listener.target for listener in host_listeners] + listening_services():
        address, _, port = target.rpartition(":")
        by_host.setdefault(host_of(address), []).append(int(port))
    for host, ports in by_host.items():
        if host != "localhost":
            ports.append(closed)
    # Listed as such, an address is still refused: it is not public (or it is the host's own).
    patterns = ("*",) if allowed == "wildcard" else tuple(by_host)
    environment = await start(network=EgressPolicy(mode="limited", allowed_hosts=patterns))
    targets = [f"{host}:{port}" for host, ports in by_host.items() for port in ports]
    command = "".join(
        f"curl -sS --noproxy '' -x {PROXY} -m 10 -o /tmp/body -w '%{{http_code}}' "
        f"http://{target}/ 2>/dev/null; echo \" $(tr '\\n' ' ' < /tmp/body)\"\n"
        f"curl -sS --noproxy '' -x {PROXY} -p -m 10 -o /dev/null -w '%{{http_connect}}' "
        f'http://{target}/ 2>/dev/null; echo " $?"\n'
        for target in targets
    )

    lines = (await output(environment, command, timeout_s=120)).splitlines()

    assert len(lines) == 2 * len(targets)
    refusals: dict[str, set[str]] = {}
    for target, plain, tunnel in zip(targets, lines[::2], lines[1::2], strict=True):
        host, _, port = target.rpartition(":")
        status, body = plain.split(" ", 1)
        assert status == "403", (target, plain)
        assert body.startswith(f"{REFUSED}: {target} "), (target, body)
        assert tunnel == "403 56", (target, tunnel)  # curl: CONNECT tunnel failed
        refusals.setdefault(host, set()).add(body.replace(f":{port}", ":PORT"))
    assert all(len(bodies) == 1 for bodies in refusals.values()), refusals
    assert environment.network is not None
    assert len(environment.network.decisions) == 2 * len(targets)
    assert not any(allowed for _, _, allowed in environment.network.decisions)
    assert [listener.target for listener in host_listeners if listener.was_reached()] == []


@needs_netns
@pytest.mark.parametrize("mode", MODES)
async def test_a_public_address_of_the_host_itself_is_out_of_reach(
    mode, own_public_address, start, host
):
    own = own_public_address
    assert own.address in host.own_addresses  # the fixture ran before the host was made
    environment = await start(
        network=limited(allowed_hosts=(SITE, own.address), resolver=resolving({SITE: own.address}))
        if mode == "limited"
        else EgressPolicy(mode=mode)
    )
    targets = [own.target, f"{own.address}:{closed_port()}"]

    seen = await probe(environment, targets)
    through_proxy = [
        await curl(environment, f"http://{host}:{own.port}/") for host in (SITE, own.address)
    ]

    assert_all_refused_at_once(seen, targets)
    assert_same_for_every_port(seen, targets)
    if mode == "limited":
        assert through_proxy == [
            (0, f"{REFUSED}: {SITE}:{own.port}\n{SITE} resolves to {own.address}, which is an "
                f"address of this server\n\n403"),
            (0, f"{REFUSED}: {own.address}:{own.port}\n{own.address} is an address of this "
                "server\n\n403"),
        ]  # fmt: skip
    else:
        assert all(code in (6, 7) for code, _ in through_proxy), through_proxy
    assert not own.was_reached()


async def test_the_hosts_unix_sockets_are_not_there(start):
    listed = subprocess.run(["ss", "-Hxl"], capture_output=True, text=True, check=True).stdout
    paths = sorted({word for word in listed.split() if word.startswith("/")})
    environment = await start()

    seen = await output(
        environment,
        "".join(f"[ -e {shlex.quote(path)} ] && echo {shlex.quote(path)}\n" for path in paths)
        + "true",
    )

    assert seen == ""


# --- 2. limited: the allowlisting proxy --------------------------------------------------------


@needs_netns
async def test_limited_an_allowed_host_gets_the_origins_answer_over_plain_http(start, site):
    environment = await start(network=limited(site))

    code, seen = await curl(environment, f"http://{SITE}:{site.port}/file?x=1")

    assert (code, seen) == (0, f"{BODY}\n200")
    assert site.hits == [("/file?x=1", f"{SITE}:{site.port}")]
    assert environment.network is not None
    assert environment.network.decisions == [(SITE, site.port, True)]


@needs_netns
async def test_limited_the_client_cannot_choose_another_virtual_host(start, site):
    environment = await start(network=limited(site))

    code, seen = await curl(
        environment, "-H", "Host: internal.example", f"http://{SITE}:{site.port}/"
    )

    assert (code, seen) == (0, f"{BODY}\n200")
    assert site.hits == [("/", f"{SITE}:{site.port}")]


@needs_netns
async def test_limited_connect_carries_tls_end_to_end_and_plain_http_too(
    start, site, tls_site, certificate
):
    environment = await start(network=limited(site))
    pem = (certificate / "cert.pem").read_text()

    secure = await bash(
        environment,
        with_file("/tmp/site.pem", pem, shlex.join(
            ["curl", "-sS", "-m", "10", "-w", "\n%{http_code}", "--cacert", "/tmp/site.pem",
             f"https://{SITE}:{tls_site.port}/secure"]
        )),
    )  # fmt: skip
    tunnelled = await curl(environment, "--proxytunnel", f"http://{SITE}:{site.port}/tunnel")

    assert (secure["exit_code"], secure["output"]) == (0, f"{BODY}\n200")
    assert tls_site.hits == [("/secure", f"{SITE}:{tls_site.port}")]
    assert tunnelled == (0, f"{BODY}\n200")
    assert site.hits == [("/tunnel", f"{SITE}:{site.port}")]
    assert environment.network is not None
    assert environment.network.decisions == [(SITE, tls_site.port, True), (SITE, site.port, True)]


@needs_netns
async def test_limited_python_urllib_goes_through_the_proxy(start, site, tls_site, certificate):
    environment = await start(network=limited(site))
    script = (
        "import ssl, urllib.error, urllib.request\n"
        "trust = ssl.create_default_context(cafile='/tmp/site.pem')\n"
        f"print(urllib.request.urlopen('http://{SITE}:{site.port}/plain').read().decode())\n"
        f"print(urllib.request.urlopen('https://{SITE}:{tls_site.port}/tls', context=trust)"
        ".read().decode())\n"
        f"try: urllib.request.urlopen('http://{OTHER}:{site.port}/')\n"
        "except urllib.error.HTTPError as e: print(e.code, e.read().decode().strip())\n"
        f"try: urllib.request.urlopen('https://{OTHER}:{tls_site.port}/', context=trust)\n"
        "except urllib.error.URLError as e: print(e.reason)\n"
    )
    pem = (certificate / "cert.pem").read_text()

    seen = await output(
        environment, with_file("/tmp/site.pem", pem, f"python3 -c {shlex.quote(script)} 2>&1")
    )

    assert seen.splitlines() == [
        BODY,
        BODY,
        f"403 {REFUSED}: {OTHER}:{site.port}",
        f"Tunnel connection failed: 403 {REFUSED}: {OTHER}:{tls_site.port}",
    ]
    assert site.hits == [("/plain", f"{SITE}:{site.port}")]
    assert tls_site.hits == [("/tls", f"{SITE}:{tls_site.port}")]


@needs_netns
async def test_limited_an_unlisted_host_is_refused_with_403(start, site, tls_site, certificate):
    environment = await start(network=limited(site))

    plain = await curl(environment, f"http://{OTHER}:{site.port}/")
    tunnel = await curl(environment, "--cacert", "/dev/null", f"https://{OTHER}:{tls_site.port}/")

    assert plain == (0, f"{REFUSED}: {OTHER}:{site.port}\n\n403")
    assert tunnel[0] == 56  # curl: CONNECT tunnel failed
    assert "CONNECT tunnel failed, response 403" in tunnel[1]
    assert site.hits == tls_site.hits == []
    assert site.connections == tls_site.connections == 0
    assert environment.network is not None
    assert environment.network.decisions == [
        (OTHER, site.port, False),
        (OTHER, tls_site.port, False),
    ]


@needs_netns
@pytest.mark.parametrize(
    ("private", "reached"),
    [((), False), ((LOOPY,), True), ((f"{LOOPY}:{{port}}",), True), ((f"{LOOPY}:1",), False)],
    ids=["not-private", "private", "private-on-its-port", "private-on-another-port"],
)
async def test_limited_an_allowed_name_that_resolves_to_loopback_needs_private_hosts(
    private, reached, start, loopback_site
):
    port = loopback_site.port
    environment = await start(
        network=limited(
            allowed_hosts=(LOOPY,),
            private_hosts=tuple(pattern.format(port=port) for pattern in private),
            resolver=resolving({LOOPY: "127.0.0.1"}),
        )
    )

    code, seen = await curl(environment, f"http://{LOOPY}:{port}/")

    assert code == 0
    if reached:
        assert seen == f"{BODY}\n200"
        assert loopback_site.hits == [("/", f"{LOOPY}:{port}")]
    else:
        assert seen == (
            f"{REFUSED}: {LOOPY}:{port}\n"
            f"{LOOPY} resolves to 127.0.0.1, which is a loopback address\n\n403"
        )
        assert loopback_site.connections == 0
    assert environment.network is not None
    assert environment.network.decisions == [(LOOPY, port, reached)]


@needs_netns
async def test_limited_an_ip_literal_is_refused_unless_listed_as_such(start, site):
    environment = await start(network=limited(site, allowed_hosts=(SITE, "*")))
    listed = await start(network=limited(site, allowed_hosts=(site.address,)))
    literal = f"http://{site.address}:{site.port}/"

    refused = [
        await curl(environment, literal),
        await curl(environment, "--noproxy", "", "-x", PROXY, "http://8.8.8.8/"),
        await curl(environment, "-p", literal),
    ]
    allowed = await curl(listed, literal)

    assert refused[0] == (0, f"{REFUSED}: {site.address}:{site.port}\n\n403")
    assert refused[1] == (0, f"{REFUSED}: 8.8.8.8:80\n\n403")
    assert refused[2][0] == 56 and "response 403" in refused[2][1]
    assert allowed == (0, f"{BODY}\n200")
    assert site.hits == [("/", f"{site.address}:{site.port}")]
    assert environment.network is not None
    assert environment.network.decisions == [
        (site.address, site.port, False),
        ("8.8.8.8", 80, False),
        (site.address, site.port, False),
    ]


@needs_netns
async def test_limited_bypassing_the_proxy_reaches_nothing(start, site, loopback_site):
    environment = await start(network=limited(site, allowed_hosts=(SITE, "*")))
    targets = [site.target, loopback_site.target, "8.8.8.8:80", "10.0.2.2:80"]

    seen = await probe(environment, targets)

    assert_all_refused_at_once(seen, targets)
    assert site.connections == loopback_site.connections == 0
    assert environment.network is not None
    assert environment.network.decisions == []


@pytest.mark.parametrize(
    ("mode", "links"),
    [
        pytest.param("none", ["lo"], id="none"),
        pytest.param("limited", ["lo"], id="limited"),
        pytest.param("open", ["lo", "tap0"], id="open", marks=needs_slirp),
    ],
)
async def test_the_namespace_holds_only_its_own_links_and_the_agent_cannot_change_them(
    mode, links, start
):
    environment = await start(network=EgressPolicy(mode=mode))

    listed = await output(environment, "ip -o link show; ip -o -4 addr show; ip route show")
    attempts = [
        "ip link set lo down",
        "ip addr add 10.9.9.9/32 dev lo",
        "ip route add 10.0.2.2/32 dev lo",
        "ip link add crl0 type veth peer name crl1",
        "nft flush ruleset",
    ]
    failed = [await bash(environment, f"{attempt} 2>&1") for attempt in attempts]
    after = await output(environment, "ip -o link show; ip -o -4 addr show; ip route show")

    names = [line.split(":")[1].strip() for line in listed.splitlines() if ": <" in line]
    assert names == links
    assert all(",UP," in line for line in listed.splitlines() if ": <" in line)
    for attempt, result in zip(attempts, failed, strict=True):
        assert result["exit_code"] != 0, attempt
        assert "Operation not permitted" in str(result["output"]), (attempt, result)
    assert after == listed


@needs_netns
async def test_limited_decisions_are_logged_without_paths_or_queries(start, site, caplog):
    caplog.set_level(logging.INFO, logger="corral.sandbox")
    environment = await start(network=limited(site))

    await curl(environment, f"http://{SITE}:{site.port}/private/path?token=s3cret")
    await curl(environment, f"http://{OTHER}:{site.port}/private/path?token=s3cret")
    await curl(environment, "-p", f"http://{OTHER}:{site.port}/private/path?token=s3cret")

    decisions = [
        (record.__dict__["action"], record.__dict__["host"], record.__dict__["port"])
        for record in caplog.records
        if record.__dict__.get("action") in ("network.allow", "network.deny")
    ]
    assert decisions == [
        ("network.allow", SITE, site.port),
        ("network.deny", OTHER, site.port),
        ("network.deny", OTHER, site.port),
    ]
    assert all(record.__dict__["environment"] == environment.id for record in caplog.records
               if record.__dict__.get("action", "").startswith("network."))  # fmt: skip
    logged = " ".join(f"{record.getMessage()} {record.__dict__}" for record in caplog.records)
    assert "s3cret" not in logged and "private/path" not in logged


def held_by(pid: int, target: str) -> list[str]:
    """This host's TCP sockets connected to `target` that process `pid` has open."""
    address, _, port = target.rpartition(":")
    listed = subprocess.run(
        ["ss", "-Htnp", "dst", f"{host_of(address)}:{port}"], capture_output=True, text=True,
        check=True,
    ).stdout  # fmt: skip
    return [line for line in listed.splitlines() if f"pid={pid}," in line]


@needs_netns
async def test_stopping_the_environment_closes_its_open_tunnels(start, internet, marker):
    site = await internet.serve(hold)
    environment = await start(network=limited(site))
    opener = (
        "import socket, time\n"
        f"s = socket.create_connection(('127.0.0.1', {PROXY_PORT}))\n"
        f"s.sendall(b'CONNECT {SITE}:{site.port} HTTP/1.1\\r\\n\\r\\n')\n"
        "print(s.recv(100).split(b'\\r\\n')[0].decode(), flush=True)\n"
        "time.sleep(60)\n"
    )
    job = await environment.call(
        "job_start",
        {"command": f"exec -a {marker} python3 -c {shlex.quote(opener)}"},
        timeout_s=10,
    )
    assert job.ok, job.error
    established = ""
    for _ in range(200):
        answered = await environment.call("job_output", {"job": job.fields["job"]}, timeout_s=10)
        established += str(answered.fields["text"])  # what it wrote since the last read
        if "Connection established" in established:
            break
        await asyncio.sleep(0.05)
    assert established.startswith("HTTP/1.1 200 Connection established"), answered.fields
    assert site.connections == 1
    assert held_by(os.getpid(), site.target), "the proxy holds no tunnel to the site"

    await environment.stop()

    # The site keeps its end open: only the proxy letting go ends the tunnel on this host.
    await asyncio.wait_for(site.ended.wait(), 10)
    for _ in range(100):
        if not held_by(os.getpid(), site.target):
            break
        await asyncio.sleep(0.05)
    assert held_by(os.getpid(), site.target) == []


# --- 3. open: slirp4netns behind the firewall, and a fake internet -----------------------------


@needs_slirp
@needs_netns
async def test_open_reaches_a_public_server(start, site):
    environment = await start(network=EgressPolicy(mode="open"))

    seen = await curl(environment, f"http://{site.address}:{site.port}/hello")

    assert seen == (0, f"{BODY}\n200")
    assert site.hits == [("/hello", f"{site.address}:{site.port}")]


@needs_netns
async def test_limited_reaches_a_public_server_only_by_an_allowed_name(start, site):
    environment = await start(network=limited(site))

    by_name = await curl(environment, f"http://{SITE}:{site.port}/by-name")
    by_other_name = await curl(environment, f"http://{OTHER}:{site.port}/by-other-name")
    by_address = await curl(environment, f"http://{site.address}:{site.port}/by-address")

    assert by_name == (0, f"{BODY}\n200")
    assert by_other_name[1].endswith("\n403")
    assert by_address[1].endswith("\n403")
    assert site.hits == [("/by-name", f"{SITE}:{site.port}")]


@needs_netns
async def test_none_reaches_no_public_server(start, site):
    environment = await start(network=EgressPolicy(mode="none"))

    seen = await probe(environment, [site.target])
    by_name = await curl(environment, f"http://{SITE}:{site.port}/")

    assert_all_refused_at_once(seen, [site.target])
    assert by_name[0] in (6, 7)  # no resolver, no route
    assert site.connections == 0


@needs_slirp
@needs_netns
async def test_open_cannot_reach_private_link_local_or_the_hosts_loopback(
    start, internet, site, host_listeners
):
    private = [await internet.listener(await internet.add_address(p)) for p in PRIVATE_SERVERS]
    for listener in private:  # each answers from this host: only the sandbox's firewall stops it
        with socket.create_connection((listener.address, listener.port), timeout=5):
            pass
        assert listener.was_reached()
    loopback = next(listener for listener in host_listeners if listener.address == "127.0.0.1")
    slirp_host = [f"10.0.2.2:{port}" for port in (loopback.port, 5432, 6379)]
    refused = [listener.target for listener in private] + slirp_host + ["169.254.169.254:80"]
    environment = await start(network=EgressPolicy(mode="open"))

    seen = await probe(environment, [*refused, site.target])

    assert_all_refused_at_once(seen, refused)
    assert {seen["python"][target].split()[0] for target in refused} == {"EHOSTUNREACH"}
    assert seen["python"][site.target] == "connected fast"
    assert [listener.target for listener in private if listener.was_reached()] == []
    assert not loopback.was_reached()


@needs_slirp
@needs_netns
@pytest.mark.parametrize(("with_port", "reached"), [(True, [True, False]), (False, [True, True])])
async def test_open_private_hosts_open_only_their_address_and_port(
    with_port, reached, start, internet
):
    address = await internet.add_address(PRIVATE_SERVERS[0])
    sites = [await internet.serve(address=address), await internet.serve(address=address)]
    pattern = f"{address}:{sites[0].port}" if with_port else address
    environment = await start(network=EgressPolicy(mode="open", private_hosts=(pattern,)))

    seen = [await curl(environment, f"http://{site.target}/") for site in sites]

    assert [answer == (0, f"{BODY}\n200") for answer in seen] == reached, seen
    assert [bool(site.hits) for site in sites] == reached
    if not all(reached):
        assert seen[1][0] == 7 and sites[1].connections == 0  # refused by the firewall


@needs_slirp
@needs_netns
async def test_an_open_environment_leaves_the_hosts_named_network_namespaces_alone(start):
    name = f"crl-named-{os.getpid()}-{secrets.token_hex(4)}"
    await ip("netns", "add", name)
    try:
        environment = await start(network=EgressPolicy(mode="open"))
        seen = await output(environment, "echo up")
        await environment.stop()

        mounts = await asyncio.to_thread(Path("/proc/self/mountinfo").read_text)
        still_usable = await ip("-n", name, "link", "show", "lo", check=False)
    finally:
        await ip("netns", "del", name, check=False)

    assert seen == "up\n"
    assert f" /run/netns/{name} " in mounts  # slirp4netns's sandbox did not unmount it
    assert still_usable.returncode == 0, still_usable.stderr


@needs_netns
async def test_open_without_slirp_goes_through_the_proxy_to_public_hosts_only(
    site, data_dir, loopback_site
):
    workspaces = data_dir / "proxy-workspaces"
    workspaces.mkdir()
    host = Host(
        capabilities=dataclasses.replace(CAPS, open_network="proxy"),
        workspaces=workspaces,
        own_addresses=await host_addresses(),
    )
    environment = Environment(
        EnvironmentSpec(key=f"run_{secrets.token_hex(6)}", network=EgressPolicy(mode="open")), host
    )
    try:
        await environment.start()
        public = await curl(environment, f"http://{site.address}:{site.port}/public")
        loopback = await curl(
            environment, "--noproxy", "", "-x", PROXY, f"http://127.0.0.1:{loopback_site.port}/"
        )
        direct = await curl(environment, "--noproxy", "*", f"http://{site.address}:{site.port}/")
        links = await output(environment, "ip -o link show | wc -l")
    finally:
        await environment.stop()
        host.close()

    assert public == (0, f"{BODY}\n200")
    assert loopback == (
        0,
        f"{REFUSED}: 127.0.0.1:{loopback_site.port}\n127.0.0.1 is a loopback address\n\n403",
    )
    assert direct[0] == 7
    assert links == "1\n"
    assert site.hits == [("/public", f"{site.address}:{site.port}")]
    assert loopback_site.connections == 0
