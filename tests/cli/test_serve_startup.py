"""`corral serve` and `corral worker` starting, or refusing to: real processes, real sockets.

Each refusal is one line on stderr naming the cause and the fix, with an exit status of its own,
and nothing (no database, no worker) was started before it.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from corral.settings import Settings
from tests.conftest import free_port
from tests.helpers import TEST_AGENT

CORRAL = str(Path(sys.executable).parent / "corral")
STARTUP_TIMEOUT_S = 60.0


def environment(**variables: str) -> dict[str, str]:
    """This process's environment without any CORRAL_* variable, plus `variables`."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    return {**clean, **variables}


def refused(*args: str, cwd: Path | None = None, **variables: str) -> tuple[int, list[str]]:
    """Run a command expected to stop at once: its exit status and its stderr lines."""
    result = subprocess.run(
        [CORRAL, *args],
        env=environment(**variables),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
    )
    return result.returncode, result.stderr.splitlines()


@contextmanager
def serving(*args: str, cwd: Path | None = None, **variables: str) -> Iterator[Served]:
    """A `corral serve` process, stopped with SIGTERM at the end."""
    process = subprocess.Popen(
        [CORRAL, "serve", *args],
        env=environment(**variables),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        cwd=cwd,
    )
    served = Served(process)
    try:
        yield served
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.stderr is not None
        served.lines += process.stderr.read().splitlines()
        process.stderr.close()


class Served:
    """A started server's process and the lines it wrote to stderr so far."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.lines: list[str] = []

    def wait_for(self, text: str) -> str:
        """The first stderr line containing `text` (reading until it comes)."""
        assert self.process.stderr is not None
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        for line in self.lines:
            if text in line:
                return line
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            if not line:
                raise AssertionError(f"exited {self.process.wait()} before {text!r}: {self.lines}")
            self.lines.append(line.rstrip("\n"))
            if text in line:
                return line.rstrip("\n")
        raise AssertionError(f"no {text!r} within {STARTUP_TIMEOUT_S} s: {self.lines}")

    def ready(self) -> dict[str, str]:
        """The `server.ready` record of a server logging JSON."""
        return json.loads(self.wait_for('"server.ready"'))


def test_a_port_in_use_is_one_line_with_exit_3_and_nothing_started(tmp_path):
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    port = taken.getsockname()[1]
    try:
        status, lines = refused("serve", "--port", str(port), "--data-dir", str(tmp_path / "d"))
    finally:
        taken.close()

    assert status == 3
    assert lines == [
        f"error: cannot listen on 127.0.0.1:{port}: address already in use (another server?): "
        "stop it, or choose another port with --port or CORRAL_PORT"
    ]
    assert not (tmp_path / "d" / "corral.db").exists()  # no migration, no worker


def test_a_data_dir_that_is_a_file_or_cannot_be_written_is_one_line_with_exit_4(tmp_path):
    a_file = tmp_path / "file"
    a_file.write_text("")

    status, lines = refused("serve", "--data-dir", str(a_file), "--port", str(free_port()))
    below, below_lines = refused(
        "serve", "--data-dir", str(a_file / "data"), "--port", str(free_port())
    )

    assert (status, lines) == (
        4,
        [
            f"error: the data directory {a_file} is not a directory: choose another with "
            "--data-dir or CORRAL_DATA_DIR"
        ],
    )
    assert below == 4
    assert len(below_lines) == 1
    assert below_lines[0].startswith(f"error: cannot write in the data directory {a_file}/data")
    assert below_lines[0].endswith("with --data-dir or CORRAL_DATA_DIR")


def test_an_unreachable_postgresql_is_one_line_with_exit_5_and_no_password(tmp_path):
    closed = free_port()
    url = f"postgresql://corral:hunter2@127.0.0.1:{closed}/corral"

    status, lines = refused(
        "serve", "--database-url", url, "--data-dir", str(tmp_path), "--port", str(free_port())
    )

    assert status == 5
    assert len(lines) == 1
    assert lines[0].startswith(
        f"error: cannot reach the database at postgresql://127.0.0.1:{closed}/corral ("
    )
    assert lines[0].endswith("start it, or fix --database-url / CORRAL_DATABASE_URL")
    assert "hunter2" not in lines[0]


def test_a_second_worker_on_one_sqlite_data_dir_is_refused_until_the_first_stops(tmp_path):
    data = str(tmp_path / "data")
    with serving("--port", str(free_port()), "--data-dir", data) as first:
        first.ready()
        pid = first.process.pid

        server, server_lines = refused("serve", "--port", str(free_port()), "--data-dir", data)
        worker, worker_lines = refused("worker", "--data-dir", data)
        with serving("--no-worker", "--port", str(free_port()), "--data-dir", data) as api:
            assert api.ready()["database"].startswith("SQLite")  # an API node beside it is fine

    expected = (
        f"error: another Corral process (pid {pid}) runs the worker of the database in {data}: "
        "stop it, or give this one another --data-dir (on SQLite one process runs the worker; "
        "use PostgreSQL for several)"
    )
    assert (server, server_lines) == (6, [expected])
    assert (worker, worker_lines) == (6, [expected])
    with serving("--port", str(free_port()), "--data-dir", data) as second:
        assert second.ready()["database"].startswith("SQLite")


def test_a_base_install_without_the_server_extra_is_told_how_to_install_it(tmp_path):
    # The server's modules are hidden from the interpreter, as on an install of the SDK alone.
    program = (
        "import sys\n"
        "class Hide:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in {'fastapi', 'sqlalchemy', 'uvicorn'}:\n"
        "            raise ModuleNotFoundError(name)\n"
        "sys.meta_path.insert(0, Hide())\n"
        "sys.argv = ['corral', 'serve']\n"
        "from corral.cli.main import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", program],
        env=environment(CORRAL_DATA_DIR=str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        "error: the server is not installed (no fastapi module): pip install -e '.[server]' in "
        "a checkout, or 'corral[server]' from a wheel"
    ]


def test_on_a_terminal_a_banner_says_where_to_connect_and_runs_and_requests_are_lines(tmp_path):
    port = free_port()
    data = tmp_path / "data"
    text = {"CORRAL_LOG_FORMAT": "text", "CORRAL_ACCESS_LOG": "true"}
    with serving("--port", str(port), "--data-dir", str(data), **text) as served:
        served.wait_for("is ready at")
        export = served.wait_for("export CORRAL_BASE_URL=").strip()
        key_file = data.resolve() / "admin.key"
        assert export == (
            f"export CORRAL_BASE_URL=http://127.0.0.1:{port} CORRAL_API_KEY=$(cat {key_file})"
        )
        # The line works as printed, in a shell.
        shown = subprocess.run(
            ["sh", "-c", f"{export}; echo $CORRAL_BASE_URL $CORRAL_API_KEY"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.split()
        assert shown == [f"http://127.0.0.1:{port}", key_file.read_text().strip()]
        with httpx.Client(
            base_url=shown[0], headers={"Authorization": f"Bearer {shown[1]}"}
        ) as client:
            body = {"agent_spec": TEST_AGENT, "input": "[[tokens 12 3]] hi"}
            run = client.post("/v1/runs", json=body)
            assert run.status_code == 202, run.text
            line = served.wait_for(f"run {run.json()['id']} ")
            request = served.wait_for("POST /v1/runs ")

    assert request.split(" ", 1)[1].startswith("POST /v1/runs 202 (127.0.0.1:")
    assert " completed in " in line
    assert "12 in / 3 out tokens" in line
    assert "{" not in line and "\x1b" not in line  # a sentence, not JSON nor escape codes
    started = served.lines.index(next(x for x in served.lines if "is ready at" in x))
    assert not any("alembic" in x or "Running upgrade" in x for x in served.lines[:started])


def test_logs_that_are_not_for_a_terminal_are_json_without_escape_codes(tmp_path):
    with serving("--port", str(free_port()), "--data-dir", str(tmp_path)) as served:
        ready = served.ready()

    assert ready["admin_key_file"] == str(tmp_path.resolve() / "admin.key")
    for line in served.lines:
        document = json.loads(line)  # every line is one JSON object
        assert "\x1b" not in json.dumps(document, ensure_ascii=False)
        assert "color_message" not in document


def test_a_config_file_is_read_below_the_environment_and_a_wrong_name_is_refused(tmp_path):
    from_file, from_env = free_port(), free_port()
    (tmp_path / "corral.toml").write_text(
        f'port = {from_file}\ndata_dir = "{tmp_path / "data"}"\nlog_format = "json"\n'
    )
    with serving(cwd=tmp_path) as by_file:
        assert by_file.ready()["url"] == f"http://127.0.0.1:{from_file}"
    with serving(cwd=tmp_path, CORRAL_PORT=str(from_env)) as by_env:
        assert by_env.ready()["url"] == f"http://127.0.0.1:{from_env}"

    typo = tmp_path / "typo.toml"
    typo.write_text("prot = 8080\n")
    status, lines = refused("serve", "--config", str(typo))

    assert (status, lines) == (
        2,
        [f"error: {typo}: no setting is called prot (did you mean port?)"],
    )


@pytest.mark.parametrize(
    ("flag", "setting"), [("--host", "host"), ("--port", "port"), ("--data-dir", "data_dir")]
)
def test_serve_help_shows_the_defaults_of_the_settings(flag, setting):
    result = subprocess.run(
        [CORRAL, "serve", "--help"],
        env=environment(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=60,
    )

    line = next(x for x in result.stdout.splitlines() if flag in x)
    assert f"[default: ({Settings.model_fields[setting].default})]" in line
