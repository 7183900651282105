"""Children forked ahead of time, each already in a control group of its own.

Moving a process into a cgroup makes the kernel wait for an RCU grace period, milliseconds after
an idle spell, so a command started on demand would pay that every time. A spare is forked, and
moves itself into a fresh group, while the tool server waits for its next request; a command,
a background job or a search then takes it over at once, and the next spare gets ready while
that one runs.
"""

from __future__ import annotations

import gc
import marshal
import os
import sys

from corral.sandbox.inside.groups import Groups
from corral.sandbox.inside.reactor import Child, Reactor

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from typing import Any


class Spare:
    """A forked child in its group, blocked until told what to become."""

    def __init__(self, child: Child, group: str | None, control: int, output: int) -> None:
        self.child = child
        self.group = group
        self.output = output
        """The read end of the pipe the child's stdout and stderr go to."""
        self._control = control

    @property
    def pid(self) -> int:
        """The child's pid."""
        return self.child.pid

    def exec(self, path: str, argv: list[str], *, env: dict[str, str], cwd: str) -> None:
        """Become the program at `path`, with stdin from /dev/null and output to the pipe."""
        self._order({"kind": "exec", "path": path, "argv": argv, "env": env, "cwd": cwd})

    def call(self, module: str, function: str, args: tuple[Any, ...]) -> None:
        """Run `module.function(*args)` and write its marshalled result to the pipe."""
        self._order({"kind": "call", "module": module, "function": function, "args": args})

    def discard(self) -> None:
        """Let the child exit unused."""
        self._send(b"")

    def _order(self, order: dict[str, Any]) -> None:
        self._send(marshal.dumps(order))

    def _send(self, data: bytes) -> None:
        # Sized, not ended by closing: later spares inherit this pipe's write end in the fork.
        view = memoryview(len(data).to_bytes(4, "big") + data)
        while view:
            view = view[os.write(self._control, view) :]
        os.close(self._control)


class Spares:
    """One spare at a time, made ready as soon as the previous one is taken."""

    def __init__(self, reactor: Reactor, groups: Groups) -> None:
        self._reactor = reactor
        self._groups = groups
        self._ready: Spare | None = None

    def prepare(self) -> None:
        """Fork the first spare ahead of the first command."""
        if self._ready is None:
            self._ready = self._fork()

    def take(self) -> Spare:
        """A spare for the command about to start; the next one is forked meanwhile."""
        spare = self._ready
        if spare is None or spare.child.exited:
            spare = self._fork()
        self._ready = self._fork()
        return spare

    def close(self) -> None:
        """Dismiss the spare waiting, if any."""
        if self._ready is not None:
            self._ready.discard()
            os.close(self._ready.output)
            self._groups.kill(self._ready.group, self._ready.pid)
            self._groups.remove(self._ready.group, self._reactor)
            self._ready = None

    def _fork(self) -> Spare:
        group = self._groups.create("cmd")
        control_read, control_write = os.pipe()
        output_read, output_write = os.pipe()
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child becomes something else or exits
            os.close(control_write)
            os.close(output_read)
            _become(group, control_read, output_write)
        os.close(control_read)
        os.close(output_write)
        return Spare(Child(self._reactor, pid), group, control_write, output_read)


def _become(group: str | None, control: int, output: int) -> None:
    """In the child: join the group, wait for the order, carry it out. Never returns."""
    status = 127
    try:
        gc.disable()
        os.setsid()
        if group is not None:
            with open(f"{group}/cgroup.procs", "w") as procs:
                procs.write(str(os.getpid()))
        data = _read_exactly(control, int.from_bytes(_read_exactly(control, 4), "big"))
        if not data:
            status = 0
            return
        order = marshal.loads(data)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(output, 1)
        os.dup2(output, 2)
        if order["kind"] == "exec":
            os.chdir(order["cwd"])
            os.execve(order["path"], order["argv"], order["env"])
        function = getattr(sys.modules[order["module"]], order["function"])
        result = marshal.dumps(function(*order["args"]))
        view = memoryview(result)
        while view:
            view = view[os.write(1, view) :]
        status = 0
    except BaseException as error:
        try:
            os.write(output, f"cannot start: {error}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(status)


def _read_exactly(fd: int, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def find_program(name: str, path: str) -> str:
    """The file `name` runs as along `path` (a PATH value), or `name` when none is found."""
    if "/" in name:
        return name
    for directory in path.split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.access(candidate, os.X_OK) and not os.path.isdir(candidate):
            return candidate
    return name
