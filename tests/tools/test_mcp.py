"""MCP tools against real MCP servers (SDK-built, started by the tests), over stdio and HTTP."""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.runtime.workspace import RunWorkspace
from corral.sandbox.capabilities import probe
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import EnvironmentSpec
from corral.sandbox.host import Host
from corral.sandbox.pool import Environments
from corral.tools.mcp import (
    McpConnection,
    McpServerSpec,
    McpTool,
    McpUnavailable,
    tool_name,
)
from corral.tools.mcp_toolbox import McpToolbox
from tests.sandbox.test_egress import (
    MODES,
    NON_PUBLIC,
    ODD_URLS,
    OWN,
    PUBLIC,
    answering,
    policy_for,
)

SERVERS = Path(__file__).parent / "mcp_servers"
TOKEN = "test-token"
TRUSTING = EgressPolicy(private_hosts=("127.0.0.1",))
"""The operator's allow-list names the test servers' host, as `CORRAL_NETWORK_PRIVATE_HOSTS`."""
STDIO_TOOLS = [
    "add",
    "echo",
    "fail",
    "reject",
    "slow",
    "crash",
    "getenv",
    "pid",
    "chart",
    "report.v2",
]


def running(marker: str) -> list[str]:
    """Command lines of live processes that carry `marker`."""
    found = subprocess.run(["pgrep", "-af", marker], capture_output=True, text=True, check=False)
    return found.stdout.splitlines()


async def gone(marker: str, within_s: float = 5.0) -> bool:
    """True once no process carries `marker` (reaping can trail a kill by a moment)."""
    deadline = time.monotonic() + within_s
    while running(marker):
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.05)
    return True


@pytest.fixture
def marker() -> Iterator[str]:
    """A unique word put on the command line of the test's stdio servers."""
    word = f"corral-mcp-test-{uuid.uuid4().hex}"
    yield word
    for line in running(word):  # a failed test must not leave its server behind
        subprocess.run(["kill", "-9", line.split()[0]], check=False)


CAPS = probe() if probe().enforced else probe("none")
"""The sandbox when this host has one; the tests' servers run the same way without (unsafe)."""


@pytest.fixture
async def launcher(tmp_path: Path) -> Any:
    """A run's environment, where local servers start; the venv and the servers are visible."""
    host = Host(
        capabilities=CAPS,
        workspaces=tmp_path / "workspaces",
        extra_mounts=(Path(sys.prefix), SERVERS),
    )
    pool = Environments(host)
    workspace = RunWorkspace(
        run_id="run_mcp_test",
        spec=EnvironmentSpec(key="run_mcp_test", network=EgressPolicy(mode="none")),
        environments=pool,
        keep_warm=False,
    )
    yield workspace
    await workspace.close()
    await pool.close()
    host.close()


@pytest.fixture
def stdio_spec(marker: str) -> Any:
    """Factory of specs for the stdio test server."""

    def make(**overrides: Any) -> McpServerSpec:
        fields: dict[str, Any] = {
            "name": "local",
            "command": sys.executable,
            "args": (str(SERVERS / "stdio_server.py"), marker),
        }
        return McpServerSpec(**(fields | overrides))

    return make


@dataclass
class HttpServer:
    url: str
    process: subprocess.Popen[bytes]
    listener: socket.socket

    def stop(self) -> None:
        """Kill the server and free its port, as a server that went away."""
        self.process.kill()
        self.process.wait()
        self.listener.close()


@pytest.fixture
def http_server() -> Iterator[HttpServer]:
    """The streamable-HTTP test server on a free loopback port, ready to answer."""
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    command = [sys.executable, str(SERVERS / "http_server.py"), str(listener.fileno()), TOKEN]
    process = subprocess.Popen(command, pass_fds=[listener.fileno()])
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + 20
        while httpx.get(url, timeout=5).status_code != 401:
            assert time.monotonic() < deadline, "the HTTP test server did not start"
        yield HttpServer(url=url, process=process, listener=listener)
    finally:
        HttpServer(url=url, process=process, listener=listener).stop()


@pytest.fixture
def silent_url() -> Iterator[str]:
    """A loopback port that accepts connections and never answers."""
    listener = socket.create_server(("127.0.0.1", 0))
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/mcp"
    finally:
        listener.close()


def http_spec(url: str, **overrides: Any) -> McpServerSpec:
    fields: dict[str, Any] = {
        "name": "remote",
        "url": url,
        "headers": {"Authorization": f"Bearer {TOKEN}"},
    }
    return McpServerSpec(**(fields | overrides))


def by_remote_name(connection: McpConnection) -> dict[str, McpTool]:
    return {tool.remote_name: tool for tool in connection.tools}


# --- stdio servers ---------------------------------------------------------------------------


async def test_stdio_server_tools_are_offered_with_prefixed_names_and_schemas(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    try:
        assert [tool.remote_name for tool in connection.tools] == STDIO_TOOLS
        add = connection.tools[0]
        assert (add.server, add.name, add.description) == (
            "local",
            "local__add",
            "Add two integers.",
        )
        assert add.parameters["type"] == "object"
        assert add.parameters["required"] == ["a", "b"]
        assert add.parameters["properties"]["a"]["type"] == "integer"
    finally:
        await connection.close()


async def test_calls_return_the_tools_text(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    tools = by_remote_name(connection)
    try:
        assert (await connection.call(tools["add"], {"a": 2, "b": 40})).output == "42"
        echoed = await connection.call(tools["echo"], {"text": "héllo\nworld"})
        assert (echoed.output, echoed.error) == ("héllo\nworld", None)
    finally:
        await connection.close()


async def test_content_that_is_not_text_is_described_in_one_line_each(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    try:
        outcome = await connection.call(by_remote_name(connection)["chart"], {})
    finally:
        await connection.close()
    assert outcome.output == (
        "sales are up\n"
        "[image: image/png, 24 bytes, not shown]\n"
        "[resource: file:///report.csv, text/csv]\nmonth,sales\njan,3\n"
        "[resource link: file:///full.pdf (full report, application/pdf)]"
    )


async def test_a_tool_error_becomes_the_outcomes_error(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    tools = by_remote_name(connection)
    try:
        failed = await connection.call(tools["fail"], {})
        invalid = await connection.call(tools["add"], {"a": "many"})
    finally:
        await connection.close()
    assert failed.output is None
    assert failed.error is not None and "the fail tool failed on purpose" in failed.error
    assert invalid.error is not None and "b" in invalid.error and "Field required" in invalid.error


async def test_a_protocol_error_answer_becomes_the_outcomes_error(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    tools = by_remote_name(connection)
    try:
        rejected = await connection.call(tools["reject"], {})
        after = await connection.call(tools["add"], {"a": 1, "b": 1})
    finally:
        await connection.close()
    assert rejected.error == (
        "MCP server local refused tools/call reject: reject refuses every call"
    )
    assert after.output == "2"


async def test_a_call_that_takes_too_long_is_an_error_and_the_server_stays_usable(
    stdio_spec, launcher
):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec(call_timeout_s=0.5))
    tools = by_remote_name(connection)
    try:
        started = time.monotonic()
        outcome = await connection.call(tools["slow"], {"seconds": 60})
        elapsed_s = time.monotonic() - started
        after = await connection.call(tools["echo"], {"text": "still here"})
    finally:
        await connection.close()
    assert outcome.error == "MCP server local did not answer tools/call slow within 0.5 s"
    assert elapsed_s < 5
    assert after.output == "still here"


async def test_a_server_that_exits_mid_run_gives_clear_errors_and_no_hang(
    stdio_spec, marker, launcher
):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    tools = by_remote_name(connection)
    try:
        crashed = await connection.call(tools["crash"], {})
        started = time.monotonic()
        later = await connection.call(tools["echo"], {"text": "anyone?"})
        assert time.monotonic() - started < 1
    finally:
        await connection.close()
    assert crashed.error == (
        "MCP server local disconnected during tools/call crash: the server closed the "
        "connection; its stderr ends: about to crash on purpose"
    )
    assert later.error is not None
    assert later.error.startswith("MCP server local is not connected: the server closed")
    assert await gone(marker)


async def test_close_leaves_no_stdio_server_process(stdio_spec, marker, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec())
    assert len(running(marker)) == 1
    await connection.close()
    assert await gone(marker)
    closed = await connection.call(connection.tools[0], {"a": 1, "b": 2})
    assert closed.error == "MCP server local is not connected: the connection is closed"


async def test_the_allowlist_keeps_only_the_named_tools_in_server_order(stdio_spec, launcher):
    connection = await McpConnection.open(launcher=launcher, spec=stdio_spec(tools=("echo", "add")))
    try:
        assert [tool.name for tool in connection.tools] == ["local__add", "local__echo"]
    finally:
        await connection.close()


async def test_an_allowlisted_tool_the_server_lacks_makes_it_unavailable(
    stdio_spec, marker, launcher
):
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(launcher=launcher, spec=stdio_spec(tools=("add", "subtract")))
    assert caught.value.server == "local"
    assert caught.value.reason.startswith("tools/list failed: no tool named subtract (it has: add,")
    assert await gone(marker)


async def test_env_reaches_the_server_and_nothing_of_the_workers_own_does(
    stdio_spec, monkeypatch, launcher
):
    monkeypatch.setenv("CORRAL_TEST_SECRET", "not for servers")

    spec = stdio_spec(env={"GREETING": "hi"})
    connection = await McpConnection.open(spec, launcher=launcher)
    getenv = by_remote_name(connection)["getenv"]
    try:
        assert (await connection.call(getenv, {"name": "GREETING"})).output == "hi"
        assert (await connection.call(getenv, {"name": "HOME"})).output == launcher_home()
        unset = await connection.call(getenv, {"name": "CORRAL_TEST_SECRET"})
        assert unset.output == "<unset>"
    finally:
        await connection.close()


def launcher_home() -> str:
    return "/home/agent" if CAPS.enforced else "<unset>"


@pytest.mark.skipif(not CAPS.enforced, reason=f"no sandbox on this host: {CAPS.detail}")
async def test_a_stdio_server_runs_inside_the_runs_environment_and_is_stopped_on_close(
    stdio_spec, marker, launcher
):
    connection = await McpConnection.open(stdio_spec(), launcher=launcher)
    try:
        pid = await connection.call(by_remote_name(connection)["pid"], {})
        assert pid.output is not None and int(pid.output) < 10  # the environment's PID namespace
    finally:
        await connection.close()
    assert await gone(marker)


async def test_a_command_that_cannot_start_is_unavailable(launcher):
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(
            McpServerSpec(name="nope", command="/nonexistent/mcp-server"), launcher=launcher
        )
    assert str(caught.value).startswith("MCP server nope is unavailable: initialize failed")
    assert "cannot start /nonexistent/mcp-server" in str(caught.value)
    assert "No such file or directory" in str(caught.value)


async def test_a_server_that_exits_at_start_is_unavailable_with_its_stderr(launcher):
    script = "import sys; sys.stderr.write('missing API_TOKEN\\n'); sys.exit(2)"
    spec = McpServerSpec(name="broken", command=sys.executable, args=("-c", script))
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(spec, launcher=launcher)
    assert caught.value.reason == (
        "initialize failed: the server closed the connection; its stderr ends: missing API_TOKEN"
    )


async def test_a_stdio_server_that_never_answers_times_out_and_is_stopped(marker, launcher):
    script = "import time; time.sleep(60)"
    spec = McpServerSpec(
        name="mute", command=sys.executable, args=("-c", script, marker), connect_timeout_s=0.5
    )
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(spec, launcher=launcher)
    assert caught.value.reason == "no answer within 0.5 s (waiting for initialize)"
    assert await gone(marker)


async def test_a_run_cancelled_while_connecting_leaves_no_server_behind(marker, launcher):
    script = "import time; time.sleep(60)"
    spec = McpServerSpec(name="mute", command=sys.executable, args=("-c", script, marker))
    opening = asyncio.create_task(McpConnection.open(spec, launcher=launcher))
    await asyncio.sleep(0.3)
    assert running(marker)
    opening.cancel()
    with pytest.raises(asyncio.CancelledError):
        await opening
    assert await gone(marker)


# --- streamable HTTP servers -----------------------------------------------------------------


async def test_an_http_server_with_the_token_lists_and_calls_tools(http_server):
    connection = await McpConnection.open(http_spec(http_server.url), egress=TRUSTING)
    tools = by_remote_name(connection)
    try:
        assert [tool.name for tool in connection.tools] == [
            "remote__add",
            "remote__echo",
            "remote__slow",
        ]
        assert (await connection.call(tools["add"], {"a": 1, "b": 2})).output == "3"
        assert (await connection.call(tools["echo"], {"text": "over http"})).output == "over http"
    finally:
        await connection.close()


async def test_an_http_server_that_refuses_the_request_is_unavailable_with_the_status(
    http_server,
):
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(http_server.url, headers={}), egress=TRUSTING)
    assert caught.value.reason == (
        f"initialize failed: HTTP 401 Unauthorized from {http_server.url}"
    )


async def test_a_url_nobody_listens_on_is_unavailable_without_leaking_credentials():
    with socket.create_server(("127.0.0.1", 0)) as probe:
        address = f"127.0.0.1:{probe.getsockname()[1]}"
    url = f"http://user:secret@{address}/mcp?token=secret"
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(url), egress=TRUSTING)
    assert caught.value.reason.startswith(
        f"initialize failed: request to http://{address}/mcp failed: ConnectError"
    )
    assert "secret" not in str(caught.value)


async def test_an_http_server_that_never_answers_times_out(silent_url):
    started = time.monotonic()
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(silent_url, connect_timeout_s=0.5), egress=TRUSTING)
    assert caught.value.reason == "no answer within 0.5 s (waiting for initialize)"
    assert time.monotonic() - started < 5


async def test_an_http_call_that_takes_too_long_is_an_error(http_server):
    connection = await McpConnection.open(
        http_spec(http_server.url, call_timeout_s=0.5), egress=TRUSTING
    )
    tools = by_remote_name(connection)
    try:
        outcome = await connection.call(tools["slow"], {"seconds": 60})
        after = await connection.call(tools["add"], {"a": 2, "b": 2})
    finally:
        await connection.close()
    assert outcome.error == "MCP server remote did not answer tools/call slow within 0.5 s"
    assert after.output == "4"


async def test_an_http_server_that_goes_away_gives_an_error_naming_it(http_server):
    connection = await McpConnection.open(
        http_spec(http_server.url, call_timeout_s=10), egress=TRUSTING
    )
    echo = by_remote_name(connection)["echo"]
    try:
        http_server.stop()
        started = time.monotonic()
        outcome = await connection.call(echo, {"text": "hello?"})
        assert time.monotonic() - started < 5
    finally:
        await connection.close()
    assert outcome.error is not None
    assert outcome.error.startswith("MCP server remote ")
    assert "tools/call echo" in outcome.error or "not connected" in outcome.error


# --- where remote servers may be -------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("host", [h for h, _ in NON_PUBLIC] + OWN)
async def test_a_remote_server_at_a_non_public_or_own_address_is_refused_in_every_mode(mode, host):
    literal = http_spec(f"http://{host}:8080/mcp", connect_timeout_s=5)
    named = http_spec("http://mcp.example/mcp", connect_timeout_s=5)

    for spec, egress in [
        (literal, policy_for(mode, host)),
        (named, policy_for(mode, "mcp.example", resolver=answering(host.strip("[]")))),
    ]:
        with pytest.raises(McpUnavailable) as caught:
            await McpConnection.open(spec, egress=egress)
        assert caught.value.reason.startswith("blocked by network policy: ")


async def test_the_test_server_is_refused_unless_the_operator_names_its_host(http_server):
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(http_server.url))

    assert caught.value.reason == "blocked by network policy: 127.0.0.1 is a loopback address"


async def test_networking_none_refuses_even_a_server_the_operator_named(http_server):
    egress = EgressPolicy(mode="none", private_hosts=("127.0.0.1",))
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(http_server.url), egress=egress)

    assert "networking mode is 'none'" in caught.value.reason


async def test_limited_networking_reaches_only_a_listed_server(http_server):
    listed = EgressPolicy(
        mode="limited", allowed_hosts=("127.0.0.1",), private_hosts=("127.0.0.1",)
    )
    unlisted = EgressPolicy(
        mode="limited", allowed_hosts=("api.example.com",), private_hosts=("127.0.0.1",)
    )

    connection = await McpConnection.open(http_spec(http_server.url), egress=listed)
    await connection.close()
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(http_server.url), egress=unlisted)
    assert caught.value.reason.endswith("is not one of the agent's allowed_hosts")


async def test_a_name_answering_a_public_and_a_private_address_is_refused(http_server):
    egress = EgressPolicy(resolver=answering(PUBLIC, "127.0.0.1"))
    url = http_server.url.replace("127.0.0.1", "mcp.example")
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(url), egress=egress)

    assert caught.value.reason == (
        "blocked by network policy: mcp.example resolves to 127.0.0.1, which is a loopback address"
    )


REFUSING_ALL = EgressPolicy(mode="limited", allowed_hosts=("*",), resolver=answering("10.0.0.1"))
"""Every name resolves to a private address and no IP literal is allowed: nothing is reached."""
PORT_FORMS = [
    "http://user:secret@example.com:99999/mcp",
    "http://example.com:+80/mcp?token=secret",
    "http://example.com: 80/mcp",
    "http://example.com:\uff18\uff10/mcp",
    "http://[::1]:80:80/mcp",
]


@pytest.mark.parametrize("url", PORT_FORMS + ODD_URLS, ids=repr)
async def test_an_odd_url_makes_the_server_unavailable_not_the_run_fail(url):
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(url, connect_timeout_s=5), egress=REFUSING_ALL)

    assert caught.value.reason
    assert "secret" not in str(caught.value)


@pytest.mark.parametrize("written", ["+{port}", " {port}", "\uff10{port}"])
async def test_a_port_that_only_httpx_reads_still_gives_a_clean_reason(written):
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    url = f"http://user:secret@127.0.0.1:{written.format(port=port)}/mcp?token=secret"
    with pytest.raises(McpUnavailable) as caught:
        await McpConnection.open(http_spec(url), egress=TRUSTING)

    assert caught.value.reason.startswith(
        f"initialize failed: request to http://127.0.0.1:{port}/mcp failed: ConnectError"
    )
    assert "secret" not in str(caught.value)


async def test_a_refused_server_is_recorded_and_the_others_still_serve(stdio_spec, launcher):
    toolbox = await McpToolbox.connect(
        [stdio_spec(tools=("add",)), http_spec("http://169.254.169.254/mcp", name="metadata")],
        launcher=launcher,
    )
    try:
        assert [tool.name for tool in toolbox.tools] == ["local__add"]
        assert toolbox.failures == {
            "metadata": "blocked by network policy: 169.254.169.254 is a cloud metadata address"
        }
    finally:
        await toolbox.close()


# --- all servers of a run --------------------------------------------------------------------


async def test_the_toolbox_keeps_working_servers_and_names_the_failed_ones(
    stdio_spec, http_server, launcher
):
    specs = [
        stdio_spec(tools=("add",)),
        http_spec(http_server.url, name="unauthorized", headers={}),
        http_spec(http_server.url, tools=("echo",)),
        McpServerSpec(name="missing", command="/nonexistent/mcp-server"),
    ]
    toolbox = await McpToolbox.connect(specs, egress=TRUSTING, launcher=launcher)
    try:
        assert [tool.name for tool in toolbox.tools] == ["local__add", "remote__echo"]
        assert toolbox.failures["unauthorized"] == (
            f"initialize failed: HTTP 401 Unauthorized from {http_server.url}"
        )
        assert "cannot start /nonexistent/mcp-server" in toolbox.failures["missing"]
        assert "No such file or directory" in toolbox.failures["missing"]
        assert toolbox.find("remote__echo") == toolbox.tools[1]
        assert toolbox.find("remote__add") is None
        assert (await toolbox.call("local__add", {"a": 20, "b": 22})).output == "42"
        assert (await toolbox.call("remote__echo", {"text": "hi"})).output == "hi"
        unknown = await toolbox.call("remote__add", {"a": 1, "b": 1})
        assert unknown.error == "no MCP tool is named remote__add"
    finally:
        await toolbox.close()


async def test_closing_the_toolbox_stops_every_stdio_server(stdio_spec, marker, launcher):
    toolbox = await McpToolbox.connect(
        [stdio_spec(name="one"), stdio_spec(name="two")], launcher=launcher
    )
    assert len(running(marker)) == 2
    await toolbox.close()
    assert await gone(marker)


async def test_the_toolbox_refuses_two_servers_with_one_name(stdio_spec, launcher):
    with pytest.raises(ValueError, match="unique"):
        await McpToolbox.connect([stdio_spec(), stdio_spec()], launcher=launcher)


# --- names and specs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("server", "remote", "expected"),
    [
        ("docs", "search", "docs__search"),
        ("docs", "search-v2_x", "docs__search-v2_x"),
        ("docs", "report.v2", "docs__report_v2_" + "{hash}"),
        ("docs", "x" * 70, "docs__" + "x" * 49 + "_{hash}"),
    ],
    ids=["plain", "dash-and-underscore", "invalid-character", "too-long"],
)
def test_tool_names_are_server_prefixed_and_always_valid(server, remote, expected):
    digest = hashlib.sha256(f"{server}__{remote}".encode()).hexdigest()[:8]
    name = tool_name(server, remote)
    assert name == expected.format(hash=digest)
    assert len(name) <= 64


def test_names_that_differ_only_in_invalid_characters_stay_distinct():
    assert tool_name("docs", "a.b") != tool_name("docs", "a/b")
    assert tool_name("docs", "a.b") != tool_name("docs", "a_b")


@pytest.mark.parametrize(
    "transport",
    [{}, {"url": "http://127.0.0.1:1/mcp", "command": "server"}],
    ids=["neither", "both"],
)
def test_a_spec_needs_exactly_one_transport(transport):
    with pytest.raises(ValueError, match="exactly one of url or command"):
        McpServerSpec(name="x", **transport)
