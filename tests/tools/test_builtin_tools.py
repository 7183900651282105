"""Builtin tools end to end: real runs in which the test model calls them by directive.

Each goes through the API, the worker, the workspace and the sandbox. The tools touch the
database only as every run does, so these run on SQLite.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import hypothesis
import pytest

from corral.sandbox.capabilities import probe
from corral.sandbox.egress import EgressPolicy
from corral.tools.base import ToolContext, ToolFailure, ToolOutcome
from corral.tools.builtin.web_fetch import MAX_BYTES, WebFetch, fetch
from tests.helpers import events, submit, wait
from tests.sandbox.test_egress import (
    MARKER,
    MODES,
    NON_PUBLIC,
    ODD_URLS,
    OWN,
    URL_TEXT,
    Respond,
    answering,
    policy_for,
    redirecting,
    serve,
)

ISOLATED = probe().enforced
needs_isolation = pytest.mark.skipif(not ISOLATED, reason="bubblewrap is not usable here")


def call(name: str, **arguments: Any) -> str:
    """A directive making the test model call `name` with these arguments."""
    return f"[[call {name} {json.dumps(arguments)}]]"


async def run_calls(client: httpx.AsyncClient, *calls: str, **body: Any) -> list[dict[str, Any]]:
    """Run the calls in one turn; the `tool.completed` events, in call order."""
    run = await wait(client, (await submit(client, " ".join(calls), **body))["id"], timeout_s=60)
    assert run["status"] == "completed", run
    return [e for e in await events(client, run["id"]) if e["type"] == "tool.completed"]


@pytest.fixture
def backend() -> str:
    """The tools do not touch the database beyond what every run does."""
    return "sqlite"


async def test_file_tools_write_read_edit_list_and_search_the_workspace(client):
    results = await run_calls(
        client,
        call("write", path="notes/todo.txt", content="alpha\nbeta\ngamma\nbeta again\n"),
        call("read", path="notes/todo.txt", offset=2, limit=2),
        call("edit", path="notes/todo.txt", old_string="gamma", new_string="GAMMA"),
        call("edit", path="notes/todo.txt", old_string="beta", new_string="b"),
        call("edit", path="notes/todo.txt", old_string="delta", new_string="d"),
        call("ls", path="notes"),
        call("glob", pattern="**/*.txt"),
        call("grep", pattern="^b", path="."),
        call("head", path="notes/todo.txt", lines=1),
        call("tail", path="notes/todo.txt", lines=1),
    )

    outcome = {index: (r["ok"], r["output"] or r["error"]) for index, r in enumerate(results)}
    assert outcome[0] == (True, "wrote 28 bytes to notes/todo.txt")
    assert outcome[1] == (True, "2\tbeta\n3\tgamma\n[... 1 more lines]")
    assert outcome[2] == (True, "replaced 1 occurrence in notes/todo.txt")
    assert outcome[3][0] is False and "occurs 2 times" in outcome[3][1]
    assert outcome[4][0] is False and "not found" in outcome[4][1]
    assert outcome[5] == (True, "todo.txt  28 bytes")
    assert outcome[6] == (True, "notes/todo.txt")
    assert outcome[7] == (True, "notes/todo.txt:2: beta\nnotes/todo.txt:4: beta again")
    assert outcome[8] == (True, "1\talpha")
    assert outcome[9] == (True, "4\tbeta again")


async def test_paths_outside_the_workspace_are_refused(client):
    results = await run_calls(
        client,
        call("read", path="../../../../etc/hostname"),
        call("write", path="/etc/corral-escape", content="x"),
        call("bash", command="ln -s /etc escape-link"),
        call("read", path="escape-link/hostname"),
    )

    assert [r["ok"] for r in results] == [False, False, True, False]
    assert all("outside the workspace" in r["error"] for r in (results[0], results[1], results[3]))
    assert not Path("/etc/corral-escape").exists()


async def test_bash_reports_output_and_exit_code_and_keeps_files_between_calls(client):
    results = await run_calls(
        client,
        call("bash", command="echo made > made.txt; echo out; echo err >&2; exit 3"),
        call("bash", command="cat made.txt && pwd"),
        call("bash", command="sleep 5", timeout_s=0.5),
        call("read", path="made.txt"),
    )

    assert results[0]["output"] == "out\nerr\n[exit code 3]"
    assert results[1]["output"].startswith("made\n/")
    assert results[1]["output"].endswith("/workspace\n[exit code 0]")
    assert "[killed: the command ran longer than 0.5 s]" in results[2]["output"]
    assert results[3]["output"] == "1\tmade"


async def test_background_jobs_are_read_incrementally_and_killed(client):
    results = await run_calls(
        client,
        call(
            "bash",
            command="for i in 1 2 3; do echo line $i; sleep 0.2; done; sleep 30",
            background=True,
        ),
        call("wait", seconds=1),
        call("bash_output", job_id="job-1"),
        call("bash_output", job_id="job-1"),
        call("bash_kill", job_id="job-1"),
        call("bash_output", job_id="job-1"),
    )

    assert results[0]["output"] == "started background job job-1"
    assert results[2]["output"] == "line 1\nline 2\nline 3\n[job-1 running]"
    assert results[3]["output"] == "[job-1 running]"
    assert results[4]["output"] == "killed job-1"
    assert results[5]["ok"] is False and "no background job 'job-1'" in results[5]["error"]


async def test_todo_write_keeps_the_plan_and_git_works_in_the_workspace(client):
    results = await run_calls(
        client,
        call(
            "todo_write",
            todos=[
                {"content": "read the code", "status": "completed"},
                {"content": "fix the bug", "status": "in_progress"},
            ],
        ),
        call("git", args=["init", "-q", "-b", "main"]),
        call("write", path="README.md", content="hello\n"),
        call("git", args=["add", "README.md"]),
        call(
            "git",
            args=["-c", "user.name=A", "-c", "user.email=a@b.c", "commit", "-qm", "first"],
        ),
        call("git", args=["log", "--format=%s"]),
    )

    assert results[0]["output"] == "[x] read the code\n[~] fix the bug\n1 of 2 done"
    assert [r["ok"] for r in results] == [True] * 6
    assert results[5]["output"] == "first\n[exit code 0]"


async def test_bad_arguments_are_the_tools_error_naming_the_field(client):
    results = await run_calls(client, call("read", path=7), call("bash"))

    assert results[0]["error"].startswith("invalid arguments for read: path:")
    assert results[1]["error"].startswith("invalid arguments for bash: command:")


async def test_a_sessions_runs_share_the_workspace(client):
    session = (await client.post("/v1/sessions", json={"agent_spec": {"model": "test"}})).json()
    first = await client.post(
        f"/v1/sessions/{session['id']}/messages",
        json={"input": call("write", path="memo.txt", content="kept")},
    )
    await wait(client, first.json()["id"])
    second = await client.post(
        f"/v1/sessions/{session['id']}/messages",
        json={"input": call("read", path="memo.txt")},
    )
    ended = await wait(client, second.json()["id"])

    assert ended["output"] == "read returned: 1\tkept"


async def test_builtin_tools_can_be_narrowed_or_turned_off(client):
    narrowed = await submit(
        client,
        call("bash", command="true"),
        agent_spec={"model": "test", "builtin_tools": ["read", "write"]},
    )
    none = await submit(
        client,
        call("read", path="x"),
        agent_spec={"model": "test", "include_builtin_tools": False},
    )
    refused = await client.post(
        "/v1/runs",
        json={"agent_spec": {"model": "test", "builtin_tools": ["teleport"]}, "input": "hi"},
    )

    narrowed_result = await wait(client, narrowed["id"])
    none_result = await wait(client, none["id"])
    assert narrowed_result["output"] == "bash failed: unknown tool 'bash'"
    assert none_result["output"] == "read failed: unknown tool 'read'"
    assert refused.status_code == 400
    assert refused.json()["field"] == "/agent_spec/builtin_tools/0"


async def test_setup_commands_run_once_before_the_first_turn(client):
    environment = {
        "setup": ["echo ready > setup.txt", "echo $GREETING >> setup.txt"],
        "variables": {"GREETING": "hello"},
    }
    ran = await wait(
        client,
        (
            await submit(
                client,
                call("read", path="setup.txt"),
                agent_spec={"model": "test", "environment": environment},
            )
        )["id"],
        timeout_s=60,
    )
    failed = await wait(
        client,
        (
            await submit(
                client, "hi", agent_spec={"model": "test", "environment": {"setup": ["exit 7"]}}
            )
        )["id"],
        timeout_s=60,
    )

    assert ran["output"] == "read returned: 1\tready\n2\thello"
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "setup_failed"


async def test_web_fetch_refuses_private_addresses_unless_the_operator_allows_them(
    make_settings, tmp_path
):
    from tests.conftest import LiveServer

    trusting = make_settings(
        data_dir=tmp_path / "trusting",
        database_url=f"sqlite:///{tmp_path / 'trusting.db'}",
        network_private_hosts=["127.0.0.1"],
    )
    async with LiveServer(make_settings()) as server, server.client() as client:
        refused = await run_calls(client, call("web_fetch", url=f"{server.base_url}/healthz"))
    async with LiveServer(trusting) as server, server.client() as client:
        allowed = await run_calls(client, call("web_fetch", url=f"{server.base_url}/healthz"))
        closed = await run_calls(
            client,
            call("web_fetch", url=f"{server.base_url}/healthz"),
            agent_spec={"model": "test", "environment": {"networking": {"mode": "none"}}},
        )

    assert refused[0]["ok"] is False
    assert refused[0]["error"] == ("blocked by network policy: 127.0.0.1 is a loopback address")
    assert allowed[0]["ok"] is True
    assert allowed[0]["output"].startswith("200 ")
    assert '"status":"ok"' in allowed[0]["output"].replace(" ", "")
    assert closed[0]["ok"] is False
    assert "networking mode is 'none'" in closed[0]["error"]


async def web_fetch(url: str, egress: EgressPolicy) -> ToolOutcome:
    """One web_fetch call as a run makes it, under `egress`."""
    return await WebFetch().run(
        {"url": url}, ToolContext(run_id="r", workspace_id="w", egress=egress)
    )


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("host", [h for h, _ in NON_PUBLIC] + OWN)
async def test_web_fetch_refuses_non_public_and_own_addresses_in_every_mode(mode, host):
    literal = await web_fetch(f"http://{host}:8080/latest/meta-data/", policy_for(mode, host))
    named = await web_fetch(
        "http://target.example/",
        policy_for(mode, "target.example", resolver=answering(host.strip("[]"))),
    )

    assert literal.error is not None and named.error is not None
    assert literal.error.startswith("blocked by network policy: ")
    assert named.error.startswith("blocked by network policy: ")


async def test_web_fetch_in_limited_mode_reaches_only_the_allowed_hosts():
    async with serve() as server:
        policy = EgressPolicy(
            mode="limited",
            allowed_hosts=("docs.example",),
            private_hosts=("docs.example", "other.example"),
            resolver=answering("127.0.0.1"),
        )
        allowed = await web_fetch(f"http://docs.example:{server.port}/", policy)
        refused = await web_fetch(f"http://other.example:{server.port}/", policy)

    assert allowed.output is not None and allowed.output.endswith(MARKER)
    assert refused.error == (
        f"blocked by network policy: other.example:{server.port} is not one of the agent's "
        "allowed_hosts"
    )
    assert len(server.hits) == 1


async def test_web_fetch_refuses_a_redirect_to_a_private_address():
    policy = EgressPolicy(private_hosts=("public.example",), resolver=answering("127.0.0.1"))
    async with (
        serve(redirecting("/")) as private,
        serve(redirecting(f"http://127.0.0.1:{private.port}/secret")) as front,
    ):
        outcome = await web_fetch(f"http://public.example:{front.port}/go", policy)

    assert outcome.error == "blocked by network policy: 127.0.0.1 is a loopback address"
    assert private.hits == []


def trickling(chunk_delay_s: float) -> Respond:
    """A page whose body comes one byte at a time, for longer than any fetch may take."""

    async def respond(path: str, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\n")
        for _ in range(int(45 / chunk_delay_s)):
            writer.write(b".")
            await writer.drain()
            await asyncio.sleep(chunk_delay_s)

    return respond


def slow_redirects(hop_delay_s: float) -> Respond:
    """Each hop answers promptly enough on its own, but the chain takes long."""

    async def respond(path: str, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(hop_delay_s)
        hop = int(path.strip("/") or 0)
        writer.write(f"HTTP/1.1 302 Found\r\nLocation: /{hop + 1}\r\n\r\n".encode())
        await writer.drain()

    return respond


@pytest.mark.parametrize(
    "respond", [trickling(0.05), slow_redirects(0.4)], ids=["trickled body", "slow redirects"]
)
async def test_a_fetch_ends_within_its_limit_however_slowly_the_server_sends(respond):
    policy = EgressPolicy(private_hosts=("127.0.0.1",))
    async with serve(respond) as server:
        started = time.monotonic()
        with pytest.raises(ToolFailure, match=r"was not fetched within 1\.5 s"):
            await fetch(f"http://127.0.0.1:{server.port}/", egress=policy, timeout_s=1.5)
        elapsed = time.monotonic() - started

    assert 1.4 < elapsed < 5


async def test_web_fetch_keeps_its_5_mb_limit():
    async def large(path: str, writer: asyncio.StreamWriter) -> None:
        body = b"x" * (MAX_BYTES + 1)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
        await writer.drain()

    async with serve(large) as server:
        outcome = await web_fetch(
            f"http://127.0.0.1:{server.port}/", EgressPolicy(private_hosts=("127.0.0.1",))
        )

    assert outcome.error is not None and "is larger than 5,000,000 bytes" in outcome.error


REFUSING_ALL = EgressPolicy(mode="limited", allowed_hosts=("*",), resolver=answering("10.0.0.1"))
"""Every name resolves to a private address and no IP literal is allowed: nothing is reached."""


@pytest.mark.parametrize("url", ODD_URLS, ids=repr)
async def test_odd_urls_are_the_tools_error_not_a_crash(url):
    outcome = await web_fetch(url, REFUSING_ALL)

    assert outcome.error is not None
    assert outcome.error.startswith(
        ("blocked by network policy: ", "cannot fetch ", "invalid arguments")
    )


@pytest.mark.parametrize(
    "location",
    [
        "http://xn--zz.com/",
        "http://[::1/",
        "http://a.com:99999/",
        "http://\u0660.com/",
        "ftp://a.com/",
    ],
)
async def test_a_redirect_to_an_odd_url_is_the_tools_error(location):
    policy = EgressPolicy(private_hosts=("127.0.0.1",))
    async with serve(redirecting(location)) as server:
        outcome = await web_fetch(f"http://127.0.0.1:{server.port}/go", policy)

    assert outcome.error is not None
    assert outcome.error.startswith(("blocked by network policy: ", "cannot fetch "))


@hypothesis.settings(max_examples=200, deadline=None, database=None, derandomize=True)
@hypothesis.given(URL_TEXT)
def test_any_url_is_fetched_or_refused_never_a_crash(text):
    for url in (f"http://{text}", f"https://{text}/path"):
        outcome = asyncio.run(web_fetch(url, REFUSING_ALL))
        assert outcome.error is not None


@needs_isolation
async def test_commands_cannot_read_the_servers_data_or_other_workspaces(client, settings):
    other = await wait(
        client, (await submit(client, call("write", path="secret.txt", content="s")))["id"]
    )
    data_dir = settings.data_dir.resolve()
    results = await run_calls(
        client,
        call("bash", command=f"ls -A {data_dir} | wc -l; cat {data_dir}/admin.key"),
        call(
            "bash",
            command=f"cat {settings.effective_workspaces_dir}/{other['id']}/workspace/secret.txt",
        ),
        call("bash", command="cat /etc/shadow | wc -c; touch /usr/escape"),
    )

    assert "No such file" in results[0]["output"] or results[0]["output"].startswith("0\n")
    assert "[exit code 0]" not in results[1]["output"]
    assert results[2]["output"].startswith("0\n")
    assert "Read-only file system" in results[2]["output"]


@needs_isolation
async def test_a_fork_bomb_and_a_memory_hog_end_the_call_not_the_server(client):
    results = await run_calls(
        client,
        call("bash", command=":(){ :|:& };: ; sleep 2; echo survived", timeout_s=10),
        call("bash", command="python3 -c 'b = bytearray(3 * 1024**3); print(len(b))'"),
        call("bash", command="echo still working"),
    )

    assert results[0]["ok"] is True
    assert (
        "[killed: out of memory]" in results[1]["output"] or "MemoryError" in results[1]["output"]
    )
    assert results[2]["output"] == "still working\n[exit code 0]"
    assert (await client.get("/healthz")).status_code == 200


@needs_isolation
async def test_cancelling_a_run_kills_children_that_left_the_session(client):
    marker = f"corral-escapee-{uuid.uuid4().hex[:8]}"
    run = await submit(
        client,
        call("bash", command=f"setsid nohup sleep 600 {marker} > /dev/null 2>&1 & sleep 600"),
    )
    for _ in range(200):
        if await pgrep(marker):
            break
        await asyncio.sleep(0.05)
    assert await pgrep(marker), "the command never started"

    await client.post(f"/v1/runs/{run['id']}/cancel")
    for _ in range(100):
        if not await pgrep(marker):
            break
        await asyncio.sleep(0.05)

    assert (await wait(client, run["id"]))["status"] == "cancelled"
    assert not await pgrep(marker)


async def pgrep(marker: str) -> bool:
    process = await asyncio.create_subprocess_exec(
        "pgrep", "-f", marker, stdout=asyncio.subprocess.DEVNULL
    )
    return await process.wait() == 0


async def test_the_sandbox_in_use_is_reported_by_readyz_and_whoami(client):
    ready = (await client.get("/readyz")).json()
    me = (await client.get("/v1/whoami")).json()

    assert ready["sandbox"] == probe().as_dict() == me["sandbox"]
    assert me["sandbox"]["tier"] in ("bwrap", "process")
