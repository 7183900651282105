"""The attacks of the security review, replayed against real environments and a real server.

Each must fail to reach the host: races on the file tools, a preloaded library through an MCP
server's environment, files and patterns made to stall the server. Where the old design was
broken, the test says what used to happen.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import json
import secrets
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from corral.sandbox.environment import Environment
from corral.sandbox.host import RUNTIME_SIZES
from tests.helpers import events, submit, wait
from tests.sandbox.conftest import needs_disk_quota, needs_sandbox, output

pytestmark = needs_sandbox

RACE_S = 5.0


def call(name: str, **arguments: Any) -> str:
    return f"[[call {name} {json.dumps(arguments)}]]"


@pytest.fixture
def backend() -> str:
    """The attacks do not depend on the storage backend."""
    return "sqlite"


async def _attempts(environment: Environment, secret: str) -> tuple[int, list[str]]:
    """Race every file request against a link swapped in and out; (attempts, leaks)."""
    link = "d"
    target = f"{link}/secret.key"
    edit = {"path": target, "old": secret, "new": "gone", "replace_all": True}
    outputs = {"paths": [target], "max_files": 5, "max_total_bytes": 10_000}
    requests: list[tuple[str, dict[str, Any], bytes]] = [
        ("read", {"path": target, "offset": 1, "limit": 10}, b""),
        ("write", {"path": f"{link}/planted.txt"}, b"planted by the agent"),
        ("edit", edit, b""),
        ("grep", {"pattern": secret[:8], "path": link, "timeout_s": 10}, b""),
        ("head", {"path": target, "lines": 5}, b""),
        ("read_files", outputs, b""),
    ]
    attempts, leaks = 0, []
    deadline = time.monotonic() + RACE_S
    while time.monotonic() < deadline:
        for op, fields, payload in requests:
            answer = await environment.call(
                op, fields, payload=payload, timeout_s=20, max_payload=10_000
            )
            attempts += 1
            text = (
                json.dumps(answer.fields)
                + (answer.error or "")
                + answer.payload.decode(errors="replace")
            )
            if secret in text:
                leaks.append(f"{op}: {text[:200]}")
    return attempts, leaks


async def test_link_races_on_every_file_request_never_reach_the_hosts_files(start, data_dir):
    """The server opened these paths itself, a swapped link escaped.

    Before: `read` returned `admin.key` (10 of 435 tries), `write` created files anywhere on the
    host (131 of 280).
    """
    secret = f"TOP-SECRET-{secrets.token_hex(8)}"
    (data_dir / "secret.key").write_text(secret)
    environment = await start(limits=dataclasses.replace(RUNTIME_SIZES["small"], cpus=2))
    swap = (  # a directory and a link to the host's data directory, swapped atomically
        "python3 -c \"import os\nos.makedirs('real', exist_ok=True)\n"
        "open('real/secret.key', 'w').write('decoy')\n"
        f"os.symlink('{data_dir}', 'link')\n"
        "while True:\n  os.rename('real', 'd'); os.rename('d', 'real')\n"
        "  os.rename('link', 'd'); os.rename('d', 'link')\""
    )
    assert (await environment.call("job_start", {"command": swap}, timeout_s=5)).ok

    attempts, leaks = await _attempts(environment, secret)

    assert attempts > 1000
    assert leaks == []
    assert (data_dir / "secret.key").read_text() == secret
    assert not (data_dir / "planted.txt").exists()
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret.key", "workspaces"]


def _evil_library(directory: Path, marker: str) -> Path | None:
    """A shared library whose constructor records who loaded it, in /tmp/<marker>."""
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return None
    source = directory / "evil.c"
    source.write_text(
        "#include <stdio.h>\n#include <unistd.h>\n"
        "__attribute__((constructor)) static void owned(void) {\n"
        f'  FILE *f = fopen("/tmp/{marker}", "a");\n'
        '  if (f) { fprintf(f, "%d\\n", (int) getuid()); fclose(f); }\n}\n'
    )
    library = directory / "evil.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(source)], check=True)
    return library


async def test_a_preloaded_library_in_an_mcp_servers_env_runs_only_inside_unprivileged(
    client, tmp_path
):
    """An MCP server's `env` is applied inside the environment only.

    Before: it applied to the host-side launcher, so LD_PRELOAD ran code as root on the host.
    """
    marker = f"corral-preloaded-{secrets.token_hex(6)}"
    library = _evil_library(tmp_path, marker)
    if library is None:
        pytest.skip("no C compiler to build the preloaded library")
    encoded = base64.b64encode(library.read_bytes()).decode()
    server = {
        "type": "mcp",
        "name": "evil",
        "command": "/usr/bin/true",
        "env": {"LD_PRELOAD": "/workspace/evil.so"},
    }
    run = await submit(
        client,
        call("bash", command=f"cat /tmp/{marker}"),
        agent_spec={"model": "test", "tools": [server]},
        files=[{"path": "evil.so", "content": encoded, "encoding": "base64"}],
    )
    ended = await wait(client, run["id"], timeout_s=60)
    log = await events(client, run["id"])

    assert ended["status"] == "completed", ended
    assert not Path("/tmp", marker).exists()
    assert not Path("/", marker).exists()
    [bash] = [e for e in log if e["type"] == "tool.completed" and e["name"] == "bash"]
    loaded_by = {int(line) for line in bash["output"].splitlines()[:-1] if line.strip()}
    assert loaded_by and 0 not in loaded_by  # it ran, but inside, as the agent's own user


@needs_disk_quota
async def test_fifos_catastrophic_patterns_sparse_files_and_disk_fills_stall_nothing_else(
    live_server,
):
    """Hostile files and patterns cost only their own environment.

    Before: a FIFO blocked the event loop, a `(a+)+b` grep held the interpreter 11 s, `head` of
    a 1 GB sparse file stalled the server 13 s, and 4 GB were written in one call.
    """
    attack = " ".join(
        [
            call(
                "bash",
                command="mkfifo fifo; truncate -s 1G sparse; printf 'a%.0s' $(seq 25) > redos.txt",
            ),
            call("read", path="fifo"),
            call("grep", pattern="(a+)+b", path="redos.txt"),
            call("head", path="sparse", lines=5),
            call("tail", path="sparse", lines=5),
            call(
                "bash",
                command="for i in 1 2 3; do head -c 1000000000 /dev/zero > fill$i; done; "
                "df -m . | tail -1",
            ),
        ]
    )
    async with live_server.client(timeout=60) as client:
        attacking = await submit(client, attack)
        latencies: list[float] = []
        other = await submit(client, "[[delay 500ms]] still served")

        async def watch() -> None:
            while True:
                started = time.monotonic()
                assert (await client.get("/healthz")).status_code == 200
                latencies.append(time.monotonic() - started)
                await asyncio.sleep(0.05)

        watcher = asyncio.create_task(watch())
        try:
            served = await wait(client, other["id"], timeout_s=20)
            ended = await wait(client, attacking["id"], timeout_s=120)
        finally:
            watcher.cancel()
        log = await events(client, attacking["id"])

    assert served["status"] == "completed" and served["output"] == "still served"
    assert ended["status"] == "completed", ended
    assert max(latencies) < 2.0  # the server answered throughout (a stall took 11-13 s)
    results = [e for e in log if e["type"] == "tool.completed"]
    assert "not a regular file" in results[1]["error"]
    assert results[2]["output"] == "no match for '(a+)+b'"
    assert results[3]["ok"] and results[4]["ok"]
    assert "No space left on device" in results[5]["output"]


async def test_tool_errors_name_workspace_paths_never_the_hosts(start, data_dir):
    environment = await start()

    requests = [
        ("read", {"path": "../../etc/x", "offset": 1, "limit": 1}),
        ("read", {"path": "missing.txt", "offset": 1, "limit": 1}),
        ("ls", {"path": "nope", "all": False}),
    ]
    answers = [await environment.call(op, fields, timeout_s=5) for op, fields in requests]
    shown = await output(environment, "pwd; cat missing.txt 2>&1")

    errors = [answer.error or "" for answer in answers]
    assert "outside the workspace" in errors[0]
    assert all(str(data_dir) not in text for text in [*errors, shown])
    assert shown.startswith("/workspace\n")


async def test_the_data_directory_and_workspaces_are_private_to_the_server(settings, app):
    """Before: the database was world-readable, and so were the workspaces."""
    assert settings.data_dir.stat().st_mode & 0o777 == 0o700
    assert settings.effective_workspaces_dir.stat().st_mode & 0o777 == 0o700
