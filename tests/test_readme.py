"""The shell examples of README.md, run as written against a real `corral serve`."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import free_port
from tests.docs.examples import json_documents
from tests.docs.markdown import ROOT, blocks

SHELL_BLOCKS = [block.code for block in blocks(ROOT / "README.md") if block.lang == "sh"]


def block_containing(marker: str) -> str:
    [block] = [b for b in SHELL_BLOCKS if marker in b]
    return block


@pytest.fixture(scope="module")
def served(tmp_path_factory) -> Iterator[tuple[Path, int]]:
    """`corral serve` on embedded defaults, started in a fresh directory."""
    workdir = tmp_path_factory.mktemp("readme")
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["CORRAL_PORT"] = str(port)
    corral = Path(sys.executable).parent / "corral"
    with (workdir / "server.log").open("w") as log:
        process = subprocess.Popen(
            [str(corral), "serve"], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                try:
                    if httpx.get(f"http://127.0.0.1:{port}/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            else:
                raise AssertionError((workdir / "server.log").read_text())
            yield workdir, port
        finally:
            process.terminate()
            process.wait(10)


def run_shell(script: str, workdir: Path, port: int) -> str:
    script = script.replace("localhost:7070", f"localhost:{port}")
    result = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_quickstart_runs_a_first_agent_and_streams_its_events(served):
    workdir, port = served

    output = run_shell(block_containing("KEY=$(cat corral-data/admin.key)"), workdir, port)

    events = [
        json.loads(line.removeprefix("data: "))
        for line in output.splitlines()
        if line.startswith("data: ")
    ]
    assert events[0]["type"] == "run.started"
    assert events[-1] == {**events[-1], "type": "run.completed", "output": "Hello, Corral!"}


def test_the_client_tool_example_completes_with_the_posted_result(served):
    workdir, port = served
    script = "KEY=$(cat corral-data/admin.key)\n" + block_containing("CALL=$(")

    output = run_shell(script, workdir, port)

    *_, final = json_documents(output)
    assert final["status"] == "completed"
    assert final["output"] == "get_weather returned: sunny, 21 C"
