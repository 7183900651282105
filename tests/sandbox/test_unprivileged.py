"""A server that is not root still sandboxes every tool, and refuses what it cannot enforce.

Without root there is no uid per environment, no cgroup limits, no disk quota and no way to
build `open` or `limited` networking; bubblewrap's user namespace still isolates the agent.
The test drops from root to `nobody` to play such a server against real processes.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.sandbox.conftest import CAPS, needs_sandbox, pids_matching

pytestmark = needs_sandbox

NOBODY = 65534
SCRIPT = Path(__file__).with_name("unprivileged_server.py")


def _hidden_ancestor(path: Path) -> tuple[Path, Path] | None:
    """The first folder on `path` that others may not enter, with its child on the path."""
    parts = path.resolve().parts
    for depth in range(1, len(parts) - 1):
        folder = Path(*parts[: depth + 1])
        if not folder.stat().st_mode & 0o001:
            return folder, folder / parts[depth + 1]
    return None


def _as_nobody(command: list[str], home: Path) -> list[str]:
    """`command` run as nobody, with the interpreter and this checkout reachable by nobody.

    An interpreter installed under root's home (pyenv) sits behind /root's 0700; a private
    mount namespace lays an open folder over it that holds only the interpreter's tree.
    """
    steps = []
    paths = {Path(sys.executable), Path(sys.prefix), Path(sys.base_prefix), SCRIPT}
    for index, (hidden, child) in enumerate(
        sorted({found for path in paths if (found := _hidden_ancestor(path)) is not None})
    ):
        keep = home / f"keep{index}"
        steps += [
            f"mkdir -p {keep}",
            f"mount --bind {shlex.quote(str(child))} {keep}",
            f"mount -t tmpfs -o mode=755 tmpfs {shlex.quote(str(hidden))}",
            f"mkdir -p {shlex.quote(str(child))}",
            f"mount --bind {keep} {shlex.quote(str(child))}",
        ]
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "env",
            f"HOME={home}", f"TMPDIR={home}", "PYTHONDONTWRITEBYTECODE=1", *command]  # fmt: skip
    steps.append("exec " + shlex.join(drop))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-ec", " && ".join(steps)]


@pytest.fixture
def home() -> Iterator[Path]:
    """A folder nobody owns, outside root's private temporary folders."""
    folder = Path(tempfile.mkdtemp(prefix="corral-unprivileged-"))
    os.chown(folder, NOBODY, NOBODY)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def host_service() -> Iterator[int]:
    """A TCP service on the host's loopback; returns its port."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        yield listener.getsockname()[1]


@pytest.mark.skipif(os.geteuid() != 0, reason="plays an unprivileged server by dropping root")
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_a_server_that_is_not_root_still_isolates_the_agent_and_refuses_open_networking(
    home, host_service, marker
):
    workspaces = home / "workspaces"
    command = [sys.executable, str(SCRIPT), str(workspaces), str(host_service), marker]
    finished = subprocess.run(
        _as_nobody(command, home), capture_output=True, text=True, timeout=120, check=False
    )
    assert finished.returncode == 0, finished.stderr
    seen = json.loads(finished.stdout)

    assert seen["server_uid"] == NOBODY
    if seen["tier"] == "unavailable":
        pytest.skip(f"unprivileged user namespaces are off on this host: {seen['detail']}")
    assert (seen["tier"], seen["dedicated_users"], seen["networks"]) == ("bwrap", False, ["none"])
    uid, shadow, processes, interfaces, system, host = seen["inside"]
    assert uid == "1000"  # the agent's own user, mapped onto the server's
    assert shadow == "0"  # masked
    assert int(processes) < 20  # its own processes only
    assert interfaces == "1"  # loopback, and nothing else
    assert system == "system-read-only"
    assert host == "host-unreachable"
    note = workspaces / "run_unprivileged" / "disk" / "workspace" / "note.txt"
    assert note.read_text() == "inside\n"
    assert note.stat().st_uid == NOBODY
    assert pids_matching(marker) == []  # a setsid child died with the environment
    assert "cannot be enforced on this server" in seen["open"]
    assert "root" in seen["open"]
    assert CAPS.enforced  # the same host sandboxes with everything when the server is root
