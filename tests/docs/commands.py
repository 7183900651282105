"""A `corral` command that starts in milliseconds: a fork server with the command line imported.

Building the command line imports the SDK, its wire types and every command: most of a second
per `corral …`, which cli.md's examples run some seventy times. `CommandServer` imports it once,
in a process of its own; the `corral` it puts first on PATH is a small script that hands its
arguments, working directory, environment and standard streams to that process, which forks a
child to run `corral.cli.entry.main()` as the real executable would, and answers with its exit
status. The command's code is the same; only the imports are shared.

Run as a script (`python commands.py SOCKET`), this module is the server itself.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import socket
import sys
import tempfile
import traceback
from pathlib import Path
from types import TracebackType

_SOCKET_VARIABLE = "DOCS_COMMAND_SERVER"
_SHIM = """#!{python} -S
import json, os, socket, sys
path = os.environ.pop({variable!r})
request = {{"argv": sys.argv, "cwd": os.getcwd(), "env": dict(os.environ)}}
with socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as server:
    server.connect(path)
    socket.send_fds(server, [json.dumps(request).encode()], [0, 1, 2])
    status = server.recv(16)
sys.exit(int(status) if status else 1)
"""


class CommandServer:
    """The fork server, and a directory holding the `corral` that uses it."""

    def __init__(self, directory: Path) -> None:
        # A short path of its own: a socket's path may not be longer than 107 bytes.
        self._socket_directory = Path(tempfile.mkdtemp(prefix="corral-docs-"))
        self.socket = self._socket_directory / "commands.sock"
        self.bin = directory / "bin"
        self._process: asyncio.subprocess.Process | None = None

    def environment(self, env: dict[str, str]) -> dict[str, str]:
        """`env` with this server's `corral` first on PATH."""
        path = f"{self.bin}:{env.get('PATH', '')}"
        return {**env, "PATH": path, _SOCKET_VARIABLE: str(self.socket)}

    async def __aenter__(self) -> CommandServer:
        self.bin.mkdir(parents=True, exist_ok=True)
        shim = self.bin / "corral"
        shim.write_text(_SHIM.format(python=sys.executable, variable=_SOCKET_VARIABLE))
        shim.chmod(0o755)
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            str(self.socket),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        ready = await asyncio.wait_for(self._process.stdout.readline(), 60)
        assert ready == b"ready\n", ready
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        if self._process is not None:
            self._process.terminate()
            await self._process.wait()
        shutil.rmtree(self._socket_directory, ignore_errors=True)


def _run_one(connection: socket.socket) -> None:
    """In a forked child: become the command the shim asked for, and answer its exit status."""
    import corral.cli.entry

    message, fds, _flags, _address = socket.recv_fds(connection, 1 << 20, 3)
    request = json.loads(message)
    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = request["argv"]
    status = 0
    try:
        corral.cli.entry.main()
    except SystemExit as exit_:
        if isinstance(exit_.code, str):
            print(exit_.code, file=sys.stderr)
        status = exit_.code if isinstance(exit_.code, int) else int(exit_.code is not None)
    except BaseException:  # noqa: BLE001 - the child reports any failure, as Python would
        traceback.print_exc()
        status = 1
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    connection.send(str(status).encode())
    os._exit(0)


def _serve(path: str) -> None:
    import corral.cli.entry
    import corral.cli.main  # noqa: F401 - imported once here, for every child

    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped by the kernel
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    listener.bind(path)
    listener.listen(64)
    print("ready", flush=True)
    while True:
        connection, _ = listener.accept()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            _run_one(connection)
        connection.close()


if __name__ == "__main__":
    _serve(sys.argv[1])
