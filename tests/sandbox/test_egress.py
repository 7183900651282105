"""The egress policy and its transports, over real sockets: what an agent's requests may reach.

Local test servers listen on 127.0.0.1; a test reaches one through a public-looking name only by
mapping the name with the policy's resolver hook and listing it in `private_hosts`, as an
operator would.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import httpx2
import hypothesis
import pytest
from hypothesis import strategies as st

from corral.domain.run_spec import Networking
from corral.sandbox.egress import EgressPolicy, EgressRefused, NetworkMode
from corral.sandbox.ssrf import IPAddress

ip = ipaddress.ip_address
PUBLIC = "93.184.215.14"
MARKER = "served by the corral test server"

NON_PUBLIC = [  # host as written in a URL, and the kind of address it is
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("[::1]", "loopback"),
    ("10.1.2.3", "private"),
    ("172.16.5.4", "private"),
    ("192.168.0.1", "private"),
    ("100.64.0.1", "carrier-grade NAT"),
    ("169.254.1.1", "link-local"),
    ("[fe80::1]", "link-local"),
    ("[fd00::1]", "private"),
    ("[fc00::1]", "private"),
    ("[::ffff:127.0.0.1]", "loopback"),
    ("[::ffff:10.0.0.1]", "private"),
    ("[::ffff:169.254.169.254]", "cloud metadata"),
    ("169.254.169.254", "cloud metadata"),
    ("[fd00:ec2::254]", "cloud metadata"),
    ("100.100.100.200", "cloud metadata"),
    ("0.0.0.0", "unspecified"),
]
MODES: list[NetworkMode] = ["open", "limited", "none"]


def own_addresses() -> list[str]:
    """The addresses of loopback and of the default route's interface (`ip -j`).

    Only those: other tests add interfaces of their own while the suite runs, and every test
    process must collect the same tests.
    """
    if shutil.which("ip") is not None:
        routes = subprocess.run(
            ["ip", "-j", "route", "show", "default"], capture_output=True, text=True, check=True
        )
        stable = {"lo"} | {route["dev"] for route in json.loads(routes.stdout or "[]")}
        listed = subprocess.run(["ip", "-j", "addr"], capture_output=True, text=True, check=True)
        return [
            a["local"]
            for i in json.loads(listed.stdout)
            if i.get("ifname") in stable
            for a in i.get("addr_info", [])
        ]
    infos = socket.getaddrinfo(socket.gethostname(), None)
    return sorted({str(info[4][0]) for info in infos} | {"127.0.0.1", "::1"})


def in_url(address: str) -> str:
    return f"[{address}]" if ":" in address else address


OWN = [in_url(address) for address in own_addresses()]


def answering(*addresses: str) -> Callable[[str, int], Awaitable[list[IPAddress]]]:
    """A resolver hook that answers every name with `addresses`."""

    async def resolve(name: str, port: int) -> list[IPAddress]:
        return [ip(address) for address in addresses]

    return resolve


def refusing_dns(name: str, port: int) -> Awaitable[list[IPAddress]]:
    raise AssertionError(f"{name} must not be resolved")


def policy_for(mode: NetworkMode, host: str, **options: Any) -> EgressPolicy:
    """A policy in `mode`; in `limited` it lists `host` (and every name) as allowed."""
    allowed = (host, "*") if mode == "limited" else ()
    return EgressPolicy(mode=mode, allowed_hosts=allowed, **options)


def expected_refusal(mode: str, kind: str) -> str:
    return "networking mode is 'none'" if mode == "none" else kind


@dataclass
class Served:
    port: int
    hits: list[tuple[str, dict[str, str]]] = field(default_factory=list)
    """Path and headers of every request, in order."""
    server_names: list[str | None] = field(default_factory=list)
    """The SNI of every TLS handshake."""


Respond = Callable[[str, asyncio.StreamWriter], Awaitable[None]]


async def ok(path: str, writer: asyncio.StreamWriter) -> None:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(MARKER), MARKER.encode())
    )
    await writer.drain()


@asynccontextmanager
async def serve(
    respond: Respond = ok, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[Served]:
    """A one-request-per-connection HTTP server in the test's loop."""
    served = Served(port=0)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
            path = head[0].split(" ")[1]
            headers = {
                name.lower(): value.strip()
                for name, _, value in (line.partition(":") for line in head[1:] if line)
            }
            served.hits.append((path, headers))
            await respond(path, writer)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    if tls is not None:
        tls.sni_callback = lambda _socket, name, _context: served.server_names.append(name)
    server = await asyncio.start_server(handle, host, 0, ssl=tls)
    served.port = server.sockets[0].getsockname()[1]
    async with server:
        yield served


def client_of(
    kind: str, policy: EgressPolicy, *, verify: ssl.SSLContext | bool = True, **options: Any
) -> Any:
    """An httpx or httpx2 client whose transport is the policy's."""
    if kind == "httpx":
        return httpx.AsyncClient(transport=policy.httpx_transport(verify=verify), **options)
    return httpx2.AsyncClient(transport=policy.httpx2_transport(verify=verify), **options)


KINDS = ["httpx", "httpx2"]


# --- the policy ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("host", "kind"), NON_PUBLIC, ids=[h for h, _ in NON_PUBLIC])
async def test_non_public_targets_are_refused_in_every_mode(mode, host, kind):
    literal = policy_for(mode, host, resolver=refusing_dns)
    named = policy_for(mode, "target.test", resolver=answering(host.strip("[]")))

    with pytest.raises(EgressRefused, match=expected_refusal(mode, kind)):
        await literal.resolve(host.strip("[]"), 80)
    with pytest.raises(EgressRefused, match=expected_refusal(mode, kind)):
        await named.resolve("target.test", 80)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("host", OWN)
async def test_the_hosts_own_addresses_are_refused_in_every_mode(mode, host):
    literal = policy_for(mode, host, resolver=refusing_dns)
    named = policy_for(mode, "target.test", resolver=answering(host.strip("[]")))

    with pytest.raises(EgressRefused):
        await literal.resolve(host.strip("[]"), 80)
    with pytest.raises(EgressRefused, match=r"target\.test"):
        await named.resolve("target.test", 80)


@pytest.mark.skipif(
    os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("ip") is None,
    reason="needs root, unshare and ip to give a network namespace a public address",
)
def test_a_public_address_of_this_host_is_refused_unless_the_operator_names_it(tmp_path):
    script = tmp_path / "own.py"
    script.write_text(
        textwrap.dedent(
            """
            import asyncio, subprocess
            import httpx
            from corral.sandbox.egress import EgressPolicy, EgressRefused

            subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
            subprocess.run(["ip", "addr", "add", "8.8.8.8/32", "dev", "lo"], check=True)

            async def answer(reader, writer):
                await reader.readuntil(b"\\r\\n\\r\\n")
                writer.write(b"HTTP/1.1 200 OK\\r\\nContent-Length: 2\\r\\n\\r\\nhi")
                await writer.drain()
                writer.close()

            async def main():
                server = await asyncio.start_server(answer, "8.8.8.8", 0)
                url = f"http://8.8.8.8:{server.sockets[0].getsockname()[1]}/"
                listed = EgressPolicy(mode="limited", allowed_hosts=["8.8.8.8"])
                for policy in (EgressPolicy(), listed):
                    async with httpx.AsyncClient(transport=policy.httpx_transport()) as client:
                        try:
                            await client.get(url)
                        except EgressRefused as refused:
                            print("refused:", refused)
                trusted = EgressPolicy(private_hosts=["8.8.8.8"])
                async with httpx.AsyncClient(transport=trusted.httpx_transport()) as client:
                    print("trusted:", (await client.get(url)).text)

            asyncio.run(main())
            """
        )
    )
    ran = subprocess.run(
        ["unshare", "--net", "--", sys.executable, str(script)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.splitlines() == [
        "refused: blocked by network policy: 8.8.8.8 is an address of this server",
        "refused: blocked by network policy: 8.8.8.8 is an address of this server",
        "trusted: hi",
    ]


async def test_none_refuses_everything_without_a_lookup():
    policy = EgressPolicy(mode="none", private_hosts=("docs.internal",), resolver=refusing_dns)

    for host, port in [("example.com", 443), (PUBLIC, 80), ("docs.internal", 80)]:
        with pytest.raises(EgressRefused, match=r"networking mode is 'none'"):
            await policy.resolve(host, port)
    with pytest.raises(EgressRefused, match="networking mode is 'none'"):
        policy.check_url("https://example.com/")


async def test_limited_allows_only_the_listed_hosts_and_asks_no_dns_for_others():
    asked: list[str] = []

    async def resolver(name: str, port: int) -> list[IPAddress]:
        asked.append(name)
        return [ip(PUBLIC)]

    policy = EgressPolicy(
        mode="limited", allowed_hosts=("api.example.com", "*.docs.example:8443"), resolver=resolver
    )

    assert await policy.resolve("API.example.com", 443) == [ip(PUBLIC)]
    assert await policy.resolve("a.docs.example", 8443) == [ip(PUBLIC)]
    for host, port in [("other.example.com", 443), ("docs.example", 8443), ("a.docs.example", 443)]:
        with pytest.raises(EgressRefused, match="not one of the agent's allowed_hosts"):
            await policy.resolve(host, port)
    with pytest.raises(EgressRefused, match=rf"{PUBLIC}:443 is not one"):
        await policy.resolve(PUBLIC, 443)
    assert asked == ["api.example.com", "a.docs.example"]


async def test_limited_still_refuses_a_listed_host_that_resolves_to_a_private_address():
    policy = EgressPolicy(
        mode="limited", allowed_hosts=("api.example.com",), resolver=answering("10.0.0.7")
    )
    trusted = EgressPolicy(
        mode="limited",
        allowed_hosts=("api.example.com",),
        private_hosts=("api.example.com",),
        resolver=answering("10.0.0.7"),
    )

    with pytest.raises(EgressRefused, match=r"api\.example\.com resolves to 10\.0\.0\.7.*private"):
        await policy.resolve("api.example.com", 443)
    assert await trusted.resolve("api.example.com", 443) == [ip("10.0.0.7")]


async def test_private_hosts_let_only_the_named_host_and_port_use_a_private_address():
    policy = EgressPolicy(private_hosts=("docs.internal:8443",), resolver=answering("10.0.0.9"))

    assert await policy.resolve("docs.internal", 8443) == [ip("10.0.0.9")]
    with pytest.raises(EgressRefused, match="private"):
        await policy.resolve("docs.internal", 443)
    with pytest.raises(EgressRefused, match="private"):
        await policy.resolve("other.internal", 8443)


async def test_one_private_answer_among_public_ones_refuses_the_host():
    policy = EgressPolicy(resolver=answering(PUBLIC, "169.254.169.254"))

    with pytest.raises(EgressRefused, match="cloud metadata"):
        await policy.resolve("mixed.example", 443)


def test_policies_are_built_from_a_runs_networking():
    assert EgressPolicy.for_networking(None) == EgressPolicy()
    assert EgressPolicy.for_networking(
        Networking(mode="limited", allowed_hosts=("api.example.com", "x.com:99999")),
        private_hosts=["docs.internal"],
    ) == EgressPolicy(
        mode="limited", allowed_hosts=("api.example.com",), private_hosts=("docs.internal",)
    )
    assert EgressPolicy.for_networking(Networking(mode="none")).mode == "none"
    with pytest.raises(ValueError, match="network mode"):
        EgressPolicy(mode="closed")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="pattern"):
        EgressPolicy(private_hosts=("bad host",))


# --- the transports --------------------------------------------------------------------------


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("host", "what"), NON_PUBLIC[:12], ids=[h for h, _ in NON_PUBLIC[:12]])
async def test_the_transports_refuse_non_public_targets_in_every_mode(kind, mode, host, what):
    async with client_of(kind, policy_for(mode, host)) as client:
        with pytest.raises(EgressRefused, match=expected_refusal(mode, what)):
            await client.get(f"http://{host}:8080/latest/meta-data/")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("mode", MODES)
async def test_a_refusal_comes_before_any_connection_and_says_nothing_about_the_port(kind, mode):
    closed = socket.create_server(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]
    closed.close()
    listener = socket.create_server(("127.0.0.1", 0))
    listener.setblocking(False)
    open_port = listener.getsockname()[1]
    refusals = []
    try:
        async with client_of(kind, policy_for(mode, "127.0.0.1")) as client:
            for port in (open_port, closed_port):
                with pytest.raises(EgressRefused) as caught:
                    await client.get(f"http://127.0.0.1:{port}/")
                refusals.append(str(caught.value).replace(str(port), "PORT"))
        with pytest.raises(BlockingIOError):
            listener.accept()  # nothing ever connected
    finally:
        listener.close()
    assert refusals[0] == refusals[1]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_name_that_rebinds_between_lookups_never_reaches_the_private_address(kind):
    asked: list[str] = []

    async def rebinding(name: str, port: int) -> list[IPAddress]:
        asked.append(name)
        return [ip(PUBLIC if len(asked) == 1 else "127.0.0.1")]

    policy = EgressPolicy(resolver=rebinding)
    async with serve() as server:
        url = f"http://rebind.example:{server.port}/"
        async with client_of(kind, policy, timeout=2) as client:
            try:
                reply = await client.get(url)  # connects to the public answer it vetted
            except (httpx.TransportError, httpx2.TransportError):
                reply = None
        assert reply is None or MARKER not in reply.text
        assert asked == ["rebind.example"]  # one lookup: what was vetted is what was connected
        async with client_of(kind, policy) as client:
            with pytest.raises(EgressRefused, match=r"rebind\.example resolves to 127\.0\.0\.1"):
                await client.get(url)
    assert server.hits == []


def redirecting(location: str) -> Respond:
    async def respond(path: str, writer: asyncio.StreamWriter) -> None:
        if path == "/go":
            writer.write(f"HTTP/1.1 302 Found\r\nLocation: {location}\r\n\r\n".encode())
        else:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nsecret")
        await writer.drain()

    return respond


REDIRECT_TARGETS = [
    ("http://127.0.0.1:{port}/secret", "loopback"),
    ("http://localhost:{port}/secret", "loopback"),
    ("http://[::ffff:127.0.0.1]:{port}/secret", "loopback"),
    ("http://10.0.0.1/secret", "private"),
    ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
    ("http://100.64.1.1/secret", "carrier-grade NAT"),
]


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    ("location", "what"), REDIRECT_TARGETS, ids=[k for _, k in REDIRECT_TARGETS]
)
async def test_a_redirect_to_a_private_address_is_refused(kind, location, what):
    policy = EgressPolicy(private_hosts=("public.example",), resolver=answering("127.0.0.1"))
    async with serve(redirecting("/")) as private:
        target = location.format(port=private.port)
        async with (
            serve(redirecting(target)) as front,
            client_of(kind, policy, follow_redirects=True) as client,
        ):
            with pytest.raises(EgressRefused, match=what):
                await client.get(f"http://public.example:{front.port}/go")
        assert [path for path, _ in front.hits] == ["/go"]
    assert private.hits == []


@pytest.mark.parametrize("kind", KINDS)
async def test_requests_keep_the_name_in_the_host_header(kind):
    policy = EgressPolicy(private_hosts=("docs.internal",), resolver=answering("127.0.0.1"))
    async with serve() as server, client_of(kind, policy) as client:
        reply = await client.get(f"http://docs.internal:{server.port}/page")

    assert reply.text == MARKER
    assert server.hits[0][1]["host"] == f"docs.internal:{server.port}"


@pytest.mark.parametrize("kind", KINDS)
async def test_proxy_variables_of_the_server_are_not_used(kind, monkeypatch):
    proxy = socket.create_server(("127.0.0.1", 0))
    proxy.setblocking(False)
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "all_proxy"):
        monkeypatch.setenv(name, f"http://127.0.0.1:{proxy.getsockname()[1]}")
    policy = EgressPolicy(private_hosts=("docs.internal",), resolver=answering("127.0.0.1"))
    try:
        async with serve() as server, client_of(kind, policy) as client:
            reply = await client.get(f"http://docs.internal:{server.port}/")
        with pytest.raises(BlockingIOError):
            proxy.accept()
    finally:
        proxy.close()
    assert reply.text == MARKER


def certificate_for(name: str, directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for `name` and its key, as PEM files."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{name}.pem", directory / f"{name}.key"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.mark.parametrize("kind", KINDS)
async def test_tls_sends_the_name_as_sni_and_checks_the_certificate_against_it(kind, tmp_path):
    cert, key = certificate_for("docs.internal", tmp_path)
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    trust = ssl.create_default_context(cafile=str(cert))
    policy = EgressPolicy(
        private_hosts=("docs.internal", "other.internal"), resolver=answering("127.0.0.1")
    )

    async with serve(tls=server_tls) as server, client_of(kind, policy, verify=trust) as client:
        reply = await client.get(f"https://docs.internal:{server.port}/")
        with pytest.raises((httpx.ConnectError, httpx2.ConnectError), match="certificate"):
            await client.get(f"https://other.internal:{server.port}/")

    assert reply.text == MARKER
    assert server.hits[0][1]["host"] == f"docs.internal:{server.port}"
    assert server.server_names == ["docs.internal", "other.internal"]


# --- odd URLs --------------------------------------------------------------------------------

ODD_URLS = [
    "http://example.com:abc/",
    "http://example.com:99999/",
    "http://example.com:0/",
    "http://[::]:-1/",
    "http://a.com:1e3/",
    "http://a.com:80:80/",
    "http://[::1/",
    "http://[::1]x/",
    "http://[zz]/",
    "http://[::1%]/",
    "http://[fe80::1%25eth0]/",
    "http://[1:2:3:4:5:6:7:8:9]/",
    "http://256.0.0.1/",
    "http://0177.0.0.1/",
    "http:///path",
    "http://",
    "https://:443/",
    "http://user:secret@/",
    "http://a%20b.com/",
    "http://%31%32%37.0.0.1/",
    "http://exa mple.com/",
    "http://example.com\n/",
    "http://ex\x00ample.com/",
    "http://\u0660.com/",
    "http://\U0001f600.com/",
    "http://\uff05\u0034\u0031.com/",
    "http://xn--/",
    "http://" + "a" * 64 + ".com/",
    "http://" + "a" * 300 + ".com/",
    "http://..",
    "http://-a.com/",
    "ftp://example.com/",
    "file:///etc/passwd",
    "gopher://127.0.0.1:25/",
]


@pytest.mark.parametrize("url", ODD_URLS, ids=repr)
def test_odd_urls_are_refused_with_a_clear_reason_and_never_leak_credentials(url):
    with pytest.raises(EgressRefused) as caught:
        EgressPolicy().check_url(url)
    assert str(caught.value).startswith("blocked by network policy: ")
    assert "secret" not in str(caught.value)


URL_PIECES = ["[", "]", ":", "@", "%", "%25", "%00", ".", "..", "xn--", "::1", "::ffff:"]
URL_PIECES += ["127.0.0.1", "80", "99999", "-1", "+8", "\uff18", "/", "#", "?", " ", "\t", "\n"]
URL_PIECES += ["\\", "a", "-"]
URL_PIECES += ["\u00e9", "\u0660", "\U0001f600", "0x7f", "0177", "user:pw@", "a" * 64]
URL_TEXT = st.one_of(
    st.text(max_size=60),
    st.lists(st.sampled_from(URL_PIECES) | st.text(max_size=2), max_size=12).map("".join),
)
"""What may follow `http://`: any text, and text built of the pieces odd URLs are made of."""


@hypothesis.settings(max_examples=300, deadline=None, database=None, derandomize=True)
@hypothesis.given(URL_TEXT)
def test_checking_any_url_either_passes_or_refuses(text):
    for url in (f"http://{text}", f"https://{text}/", text):
        with suppress(EgressRefused):
            EgressPolicy(mode="limited", allowed_hosts=("*",)).check_url(url)
