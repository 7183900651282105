"""A `corral serve` process the client-command tests share, and a runner of `corral` commands.

The server is started once for the package (each test tags what it creates, so tests do not see
each other's objects); each command is the real `corral` executable in a subprocess.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from corral.client import Corral
from tests.conftest import ADMIN_KEY, free_port

CORRAL = str(Path(sys.executable).parent / "corral")
STARTUP_TIMEOUT_S = 30.0
COMMAND_TIMEOUT_S = 60.0
INHERITED_OUT = ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS", "LINES")
"""Variables that would make rich draw for a terminal; commands must print plainly here."""


def clean_environ() -> dict[str, str]:
    """This process's environment without any `CORRAL_*` or terminal-forcing variable."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CORRAL_") and k not in INHERITED_OUT
    }


@dataclass
class Result:
    """What one `corral` command did."""

    args: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        return json.loads(self.stdout)

    def json_lines(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.stdout.splitlines()]

    def __str__(self) -> str:
        return f"corral {' '.join(self.args)} → {self.returncode}\n{self.stdout}\n{self.stderr}"


@dataclass
class Cli:
    """Runs `corral` against the test server, with its URL and admin key in the environment."""

    base_url: str
    env: dict[str, str]

    def __call__(self, *args: str, env: dict[str, str] | None = None, ok: bool = True) -> Result:
        """Run one command; with `ok`, assert that it succeeded."""
        completed = subprocess.run(
            [CORRAL, *args],
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
        )
        result = Result(args, completed.returncode, completed.stdout, completed.stderr)
        assert "Traceback" not in result.stderr, str(result)
        if ok:
            assert result.returncode == 0, str(result)
        return result

    def all(self, *commands: Sequence[str], ok: bool = True) -> list[Result]:
        """Run independent commands at once (each costs a process start)."""
        with ThreadPoolExecutor(len(commands)) as pool:
            return list(pool.map(lambda args: self(*args, ok=ok), commands))

    def sdk(self) -> Corral:
        """An SDK client of the same server, to set up and check what the commands did."""
        return Corral(base_url=self.base_url, api_key=ADMIN_KEY)


@pytest.fixture(scope="package")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`corral serve` (SQLite, embedded worker) on a free port; yields its base URL."""
    workdir = tmp_path_factory.mktemp("cli-server")
    port = free_port()
    env = {
        **clean_environ(),
        "CORRAL_DATA_DIR": str(workdir / "data"),
        "CORRAL_PORT": str(port),
        "CORRAL_BOOTSTRAP_KEY": ADMIN_KEY,
        "CORRAL_POLL_INTERVAL_S": "0.2",
        "CORRAL_RESYNC_S": "1",
        "CORRAL_SHUTDOWN_GRACE_S": "0",
        "CORRAL_KEY_CACHE_S": "0",
        "CORRAL_LOG_LEVEL": "warning",
    }
    base_url = f"http://127.0.0.1:{port}"
    with (workdir / "server.log").open("w") as log:
        process = subprocess.Popen(
            [CORRAL, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=workdir
        )
        try:
            _wait_ready(base_url, process, workdir / "server.log")
            yield base_url
        finally:
            process.terminate()
            process.wait(10)


def _wait_ready(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        with contextlib.suppress(httpx.TransportError):
            if httpx.get(f"{base_url}/readyz").status_code == 200:
                return
        time.sleep(0.05)
    raise AssertionError(f"corral serve did not get ready:\n{log.read_text()}")


@pytest.fixture
def cli(served: str) -> Cli:
    """`corral` commands against the shared test server."""
    return Cli(
        base_url=served,
        env={**clean_environ(), "CORRAL_BASE_URL": served, "CORRAL_API_KEY": ADMIN_KEY},
    )


@pytest.fixture
def sdk(cli: Cli) -> Iterator[Corral]:
    """An SDK client of the test server."""
    with cli.sdk() as client:
        yield client
