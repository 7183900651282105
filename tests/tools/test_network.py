"""A run's limited network: real namespaces, the real proxy, and origin servers on host loopback.

`allowed.test`, `blocked.test` and `loopy.allowed.test` resolve (through the proxy's resolver
override) to 127.0.0.1, where the tests' own servers listen. Only `allowed.test` may use that
loopback address, so the SSRF guard still refuses the others even when the allowlist matches.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import ssl
import subprocess
import sys
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from corral.sandbox.ssrf import IPAddress
from corral.tools.network import (
    PROXY_PORT,
    NetworkPolicy,
    RunNetwork,
    netns_name,
    netns_supported,
    sweep_stale,
)

needs_netns = pytest.mark.skipif(
    not netns_supported(), reason="needs root and a working `ip netns add` to create namespaces"
)

LOOPBACK = ipaddress.IPv4Address("127.0.0.1")
TEST_NAMES = {"allowed.test", "blocked.test", "loopy.allowed.test"}
BODY = b"hello from allowed server"


async def _test_resolver(host: str, port: int) -> list[IPAddress]:
    if host in TEST_NAMES:
        return [LOOPBACK]
    raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")


def _only_allowed_test_may_use_loopback(host: str, address: IPAddress) -> bool:
    return host == "allowed.test" and address == LOOPBACK


@dataclass
class Origin:
    """A loopback HTTP(S) server the tests start; it records the requests it got."""

    port: int
    seen: list[tuple[str, str]] = field(default_factory=list)


class _OriginServer(ThreadingHTTPServer):
    origin: Origin


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        assert isinstance(self.server, _OriginServer)
        self.server.origin.seen.append((self.path, self.headers.get("Host", "")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:
        pass


def _serve(tls: ssl.SSLContext | None = None) -> Iterator[Origin]:
    server = _OriginServer(("127.0.0.1", 0), _Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    origin = Origin(port=server.server_address[1])
    server.origin = origin
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield origin
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def origin() -> Iterator[Origin]:
    yield from _serve()


@pytest.fixture
def certificate(tmp_path: Path) -> Path:
    """A self-signed certificate for allowed.test; its PEM doubles as the CA file for curl."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"),
         "-subj", "/CN=allowed.test", "-addext", "subjectAltName=DNS:allowed.test"],
        check=True, capture_output=True,
    )  # fmt: skip
    return tmp_path


@pytest.fixture
def tls_origin(certificate: Path) -> Iterator[Origin]:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(certificate / "cert.pem", certificate / "key.pem")
    yield from _serve(context)


async def _create(run_key: str | None = None) -> RunNetwork:
    policy = NetworkPolicy("limited", ("allowed.test", "*.allowed.test"))
    return await RunNetwork.create(
        run_key or f"test-{uuid.uuid4()}",
        policy,
        resolver_allow=_only_allowed_test_may_use_loopback,
        resolver=_test_resolver,
    )


@pytest.fixture
async def network() -> AsyncIterator[RunNetwork]:
    network = await _create()
    try:
        yield network
    finally:
        await network.close()


async def run_in(netns_path: str, *argv: str, env: dict[str, str]) -> tuple[int, str, str]:
    """Run a command inside a namespace, without blocking the loop the proxy runs on."""
    process = await asyncio.create_subprocess_exec(
        "nsenter", f"--net={netns_path}", *argv,
        env={"PATH": os.environ["PATH"], **env},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    stdout, stderr = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def curl(network: RunNetwork, *args: str) -> tuple[int, str, str]:
    """Run curl in the namespace with the run's proxy environment; stdout ends with the status."""
    return await run_in(
        f"/run/netns/{network.netns}",
        "curl", "-sS", "--max-time", "10", "-w", "\n%{http_code}", *args,
        env=network.proxy_env,
    )  # fmt: skip


@needs_netns
async def test_allowed_host_over_plain_http_gets_the_servers_answer(
    network: RunNetwork, origin: Origin
) -> None:
    rc, out, err = await curl(network, f"http://allowed.test:{origin.port}/file?x=1")
    assert (rc, out) == (0, f"{BODY.decode()}\n200"), err
    assert origin.seen == [("/file?x=1", f"allowed.test:{origin.port}")]
    assert network.decisions == [("allowed.test", origin.port, True)]


@needs_netns
async def test_python_urllib_in_the_namespace_goes_through_the_proxy(
    network: RunNetwork, origin: Origin
) -> None:
    script = (
        "import urllib.request, urllib.error\n"
        f"print(urllib.request.urlopen('http://allowed.test:{origin.port}/').read().decode())\n"
        f"try: urllib.request.urlopen('http://blocked.test:{origin.port}/')\n"
        "except urllib.error.HTTPError as e: print(e.code, e.read().decode().strip())\n"
    )
    rc, out, err = await run_in(
        network.netns_path, sys.executable, "-c", script, env=network.proxy_env
    )
    assert rc == 0, err
    assert out.splitlines() == [
        BODY.decode(),
        f"403 blocked by sandbox network policy: blocked.test:{origin.port}",
    ]


@needs_netns
async def test_host_not_on_the_allowlist_is_refused_with_403(
    network: RunNetwork, origin: Origin
) -> None:
    rc, out, _ = await curl(network, f"http://blocked.test:{origin.port}/")
    assert rc == 0
    assert out == f"blocked by sandbox network policy: blocked.test:{origin.port}\n\n403"
    assert origin.seen == []
    assert network.decisions == [("blocked.test", origin.port, False)]


@needs_netns
async def test_allowlisted_name_that_resolves_to_loopback_is_refused(
    network: RunNetwork, origin: Origin
) -> None:
    rc, out, _ = await curl(network, f"http://loopy.allowed.test:{origin.port}/")
    assert rc == 0
    assert out.startswith(f"blocked by sandbox network policy: loopy.allowed.test:{origin.port}\n")
    assert "127.0.0.1, which is a loopback address" in out
    assert out.endswith("\n403")
    assert origin.seen == []
    assert network.decisions == [("loopy.allowed.test", origin.port, False)]


@needs_netns
async def test_ip_literal_through_the_proxy_is_refused(network: RunNetwork, origin: Origin) -> None:
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    for url in (f"http://127.0.0.1:{origin.port}/", "http://8.8.8.8/"):
        rc, out, _ = await curl(network, "--proxy", proxy, "--noproxy", "", url)
        assert (rc, out[-3:]) == (0, "403"), url
    assert origin.seen == []
    assert network.decisions == [("127.0.0.1", origin.port, False), ("8.8.8.8", 80, False)]


@needs_netns
async def test_the_client_cannot_choose_another_virtual_host(
    network: RunNetwork, origin: Origin
) -> None:
    rc, out, _ = await curl(
        network, "-H", "Host: internal.example", f"http://allowed.test:{origin.port}/"
    )
    assert (rc, out[-3:]) == (0, "200")
    assert origin.seen == [("/", f"allowed.test:{origin.port}")]


@needs_netns
async def test_connect_to_allowed_host_carries_tls_end_to_end(
    network: RunNetwork, tls_origin: Origin, certificate: Path
) -> None:
    cacert = str(certificate / "cert.pem")
    rc, out, err = await curl(
        network, "--cacert", cacert, f"https://allowed.test:{tls_origin.port}/"
    )
    assert (rc, out) == (0, f"{BODY.decode()}\n200"), err
    assert network.decisions == [("allowed.test", tls_origin.port, True)]


@needs_netns
async def test_connect_tunnel_carries_plain_http_too(network: RunNetwork, origin: Origin) -> None:
    rc, out, err = await curl(network, "--proxytunnel", f"http://allowed.test:{origin.port}/tunnel")
    assert (rc, out) == (0, f"{BODY.decode()}\n200"), err
    assert origin.seen == [("/tunnel", f"allowed.test:{origin.port}")]


@needs_netns
async def test_connect_to_blocked_host_is_refused(
    network: RunNetwork, tls_origin: Origin, certificate: Path
) -> None:
    cacert = str(certificate / "cert.pem")
    rc, _, err = await curl(network, "--cacert", cacert, f"https://blocked.test:{tls_origin.port}/")
    assert rc == 56, err  # curl: "CONNECT tunnel failed"
    assert "403" in err
    assert tls_origin.seen == []
    assert network.decisions == [("blocked.test", tls_origin.port, False)]


@needs_netns
async def test_bypassing_the_proxy_reaches_nothing(network: RunNetwork, origin: Origin) -> None:
    rc, _, err = await curl(network, "--noproxy", "*", f"http://127.0.0.1:{origin.port}/")
    assert rc == 7, err  # connection refused: the namespace has its own loopback
    rc, _, err = await curl(network, "--noproxy", "*", "--max-time", "3", "http://192.0.2.1/")
    assert rc == 7, err  # no route out at all
    assert origin.seen == []
    assert network.decisions == []


@needs_netns
async def test_the_namespace_holds_only_loopback_and_it_is_up(network: RunNetwork) -> None:
    rc, out, err = await run_in(network.netns_path, "ip", "-o", "link", "show", env={})
    assert rc == 0, err
    lines = out.splitlines()
    assert len(lines) == 1
    assert lines[0].split(":")[1].strip() == "lo"
    assert ",UP," in lines[0]


@needs_netns
async def test_decisions_are_logged_without_paths_or_queries(
    network: RunNetwork, origin: Origin, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="corral.tools.network")
    await curl(network, f"http://allowed.test:{origin.port}/private/path?token=s3cret")
    await curl(network, f"http://blocked.test:{origin.port}/private/path?token=s3cret")
    decisions = [
        (r.__dict__["action"], r.__dict__["host"], r.__dict__["port"])
        for r in caplog.records
        if r.__dict__.get("action") in ("network.allow", "network.deny")
    ]
    assert decisions == [
        ("network.allow", "allowed.test", origin.port),
        ("network.deny", "blocked.test", origin.port),
    ]
    logged = " ".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert "s3cret" not in logged and "private/path" not in logged


@needs_netns
async def test_close_stops_the_proxy_ends_open_tunnels_and_deletes_the_namespace(
    origin: Origin,
) -> None:
    network = await _create()
    holder = os.open(network.netns_path, os.O_RDONLY)  # keeps the namespace alive to look inside
    try:
        idle_tunnel = (
            "import socket\n"
            f"s = socket.create_connection(('127.0.0.1', {PROXY_PORT}))\n"
            f"s.sendall(b'CONNECT allowed.test:{origin.port} HTTP/1.1\\r\\n\\r\\n')\n"
            "print(s.recv(100).split(b'\\r\\n')[0].decode(), flush=True)\n"
            "print('closed' if s.recv(1) == b'' else 'data', flush=True)\n"
        )
        client = await asyncio.create_subprocess_exec(
            "nsenter", f"--net={network.netns_path}", sys.executable, "-c", idle_tunnel,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        assert client.stdout is not None
        first = await asyncio.wait_for(client.stdout.readline(), 10)
        assert first.decode().strip() == "HTTP/1.1 200 Connection established"

        await asyncio.wait_for(network.close(), 10)

        second = await asyncio.wait_for(client.stdout.readline(), 10)
        assert second.decode().strip() == "closed"
        await client.wait()
        assert not os.path.exists(network.netns_path)
        listing = subprocess.run(
            ["ip", "netns", "list"], capture_output=True, text=True, check=True
        )
        assert network.netns not in listing.stdout
        rc, _, _ = await run_in(
            f"/proc/{os.getpid()}/fd/{holder}",
            "curl", "-sS", "--max-time", "5", "--proxy", f"http://127.0.0.1:{PROXY_PORT}",
            f"http://allowed.test:{origin.port}/",
            env={},
        )  # fmt: skip
        assert rc == 7  # nothing listens on the proxy port any more
    finally:
        os.close(holder)
        await network.close()


@needs_netns
async def test_a_retry_of_the_run_replaces_its_leftover_namespace(origin: Origin) -> None:
    run_key = f"test-{uuid.uuid4()}"
    name = netns_name(run_key)
    subprocess.run(["ip", "netns", "add", name], check=True)
    networks: list[RunNetwork] = []
    try:
        marker = ["ip", "-n", name, "addr", "add", "10.9.9.9/32", "dev", "lo"]
        subprocess.run(marker, check=True)
        first = await _create(run_key)
        networks.append(first)
        second = await _create(run_key)
        networks.append(second)
        await first.close()  # the superseded network must not delete its replacement
        assert os.path.exists(second.netns_path)
        rc, out, _ = await run_in(second.netns_path, "ip", "-o", "addr", "show", env={})
        assert rc == 0 and "127.0.0.1" in out and "10.9.9.9" not in out
        rc, out, _ = await curl(second, f"http://allowed.test:{origin.port}/")
        assert (rc, out[-3:]) == (0, "200")
        await second.close()
        assert not os.path.exists(second.netns_path)
    finally:
        for network in networks:
            await network.close()
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@needs_netns
async def test_sweep_stale_removes_leftovers_and_keeps_live_networks(network: RunNetwork) -> None:
    prefix = f"rtsweep-{uuid.uuid4().hex[:6]}-"
    leftovers = [f"{prefix}a", f"{prefix}b"]
    for name in leftovers:
        subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        assert await sweep_stale(prefix) == 2
        assert not any(os.path.exists(f"/run/netns/{name}") for name in leftovers)
        assert await sweep_stale(network.netns) == 0
        assert os.path.exists(network.netns_path)
    finally:
        for name in leftovers:
            subprocess.run(["ip", "netns", "del", name], capture_output=True)


async def test_open_policy_gets_no_run_network() -> None:
    with pytest.raises(ValueError, match="limited"):
        await RunNetwork.create("run", NetworkPolicy("open"))


@pytest.mark.parametrize("pattern", ["exa mple.com", "*.10.0.0.1", "api.example.com:0"])
def test_policy_rejects_malformed_allowlist_entries(pattern: str) -> None:
    with pytest.raises(ValueError, match="pattern"):
        NetworkPolicy("limited", ("ok.example.com", pattern))


def test_proxy_environment_points_every_client_at_the_proxy() -> None:
    env = RunNetwork(run_key="r", policy=NetworkPolicy("limited")).proxy_env
    proxy = f"http://127.0.0.1:{PROXY_PORT}"
    assert {env[k] for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")} == {proxy}
    assert env["no_proxy"] == env["NO_PROXY"] == "localhost,127.0.0.1,::1"
