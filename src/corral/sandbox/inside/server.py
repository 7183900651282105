"""The tool server's request loop: one request at a time, background jobs drained meanwhile.

It reads requests from the channel and, for requests that hand it descriptors (an MCP server's
standard streams), takes those from a second socket. A request that fails answers
with its error and the loop goes on; the channel closing ends every process and the server.
"""

from __future__ import annotations

import gc
import os
import time

from corral.sandbox.inside import files, search, transfer
from corral.sandbox.inside.errors import Failure
from corral.sandbox.inside.groups import Groups
from corral.sandbox.inside.jobs import Jobs
from corral.sandbox.inside.processes import Relay, run, spawn
from corral.sandbox.inside.protocol import answer, read_request
from corral.sandbox.inside.reactor import Child, Reactor
from corral.sandbox.inside.spares import Spares

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

_MARKS = {"pending": "[ ]", "in_progress": "[~]", "completed": "[x]"}


class Server:
    """Everything the tool server holds: the workspace, its processes, its state."""

    def __init__(self, config: dict[str, Any], fds: int, channel: int) -> None:
        self.reactor = Reactor()
        self.fds = fds
        self.channel = channel
        """Where answers go, and the frames a request asks for before its answer."""
        self.workspace = files.Workspace(config["workspace"])
        self.state_dir = str(config["state"])
        self.env: dict[str, str] = dict(config["env"])
        self.max_chars = int(config["max_output_chars"])
        self.groups = Groups(config.get("cgroup"))
        self.spares = Spares(self.reactor, self.groups)
        self.jobs = Jobs(
            self.reactor,
            self.spares,
            self.groups,
            directory=f"{self.state_dir}/jobs",
            limit=int(config["job_log_bytes"]),
            max_running=int(config["max_jobs"]),
        )
        self.spawned: dict[str, tuple[Child, str | None]] = {}
        self.handlers: dict[str, Callable[[dict[str, Any], bytes], Any]] = {
            "ping": lambda request, payload: {"time": time.time()},
            "read": self.read,
            "write": self.write,
            "edit": self.edit,
            "ls": self.ls,
            "head": self.head,
            "tail": self.tail,
            "glob": self.glob,
            "grep": self.grep,
            "bash": self.bash,
            "job_start": self.job_start,
            "job_output": self.job_output,
            "job_kill": self.job_kill,
            "reset": self.reset,
            "todo_write": self.todo_write,
            "put_files": self.put_files,
            "install_skill": self.install_skill,
            "snapshot": self.snapshot,
            "read_files": self.read_files,
            "text_file": self.text_file,
            "spawn": self.spawn,
            "stop_spawned": self.stop_spawned,
        }

    # -- files ---------------------------------------------------------------------------

    def read(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(
            files.read(self.workspace, request["path"], request["offset"], request["limit"])
        )

    def write(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(files.write(self.workspace, request["path"], payload))

    def edit(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(
            files.edit(
                self.workspace,
                request["path"],
                request["old"],
                request["new"],
                request["replace_all"],
            )
        )

    def ls(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(files.ls(self.workspace, request["path"], request["all"]))

    def head(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(files.head(self.workspace, request["path"], request["lines"]))

    def tail(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return _text(files.tail(self.workspace, request["path"], request["lines"]))

    def glob(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        args = (self.workspace.root, request["pattern"], request["path"])
        return self._search("glob_in", args, request["timeout_s"])

    def grep(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        args = (
            self.workspace.root,
            request["pattern"],
            request["path"],
            request.get("glob"),
            bool(request.get("ignore_case")),
        )
        return self._search("grep_in", args, request["timeout_s"])

    def _search(self, function: str, args: tuple[Any, ...], timeout_s: float) -> dict[str, Any]:
        # Loaded once here, so that the spares forked from now on have them ready.
        import fnmatch  # noqa: F401
        import re  # noqa: F401

        return _text(
            search.in_spare(
                self.reactor, self.spares, self.groups, function, args, timeout_s=timeout_s
            )
        )

    # -- commands ------------------------------------------------------------------------

    def bash(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return run(
            self.reactor,
            self.spares,
            self.groups,
            ["bash", "-c", request["command"]],
            env=self.env,
            cwd=self.workspace.root,
            timeout_s=float(request["timeout_s"]),
            max_chars=int(request.get("max_chars") or self.max_chars),
            relay=self._relay(request),
        )

    def _relay(self, request: dict[str, Any]) -> Relay | None:
        """A relay of the command's output as progress frames, if `stream` (its bounds) asks."""
        bounds = request.get("stream")
        if not bounds:
            return None
        channel, head = self.channel, {"id": request.get("id"), "progress": True}
        return Relay(
            lambda data: answer(channel, head, data),
            limit=int(bounds["bytes"]),
            frame=int(bounds["frame_bytes"]),
            every_s=float(bounds["every_s"]),
            started=time.monotonic(),
        )

    def job_start(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        name = self.jobs.start(
            ["bash", "-c", request["command"]], env=self.env, cwd=self.workspace.root
        )
        return {"job": name}

    def job_output(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return self.jobs.read(request["job"], self.max_chars)

    def job_kill(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        self.jobs.kill(request["job"])
        return {}

    def reset(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        """End every job and spawned server (the run that started them is over)."""
        for name in list(self.spawned):
            self._stop_spawned(name)
        return {"jobs": self.jobs.kill_all()}

    def spawn(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        import socket

        name = str(request["name"])
        if name in self.spawned:
            self._stop_spawned(name)
        with socket.socket(fileno=os.dup(self.fds)) as carrier:
            _, fds, _, _ = socket.recv_fds(carrier, 1, 3)
        if len(fds) != 3:
            for fd in fds:
                os.close(fd)
            raise Failure("the streams of the server did not arrive")
        group = self.groups.create("server")
        try:
            child = spawn(
                self.reactor, request["argv"], env={**self.env, **request["env"]},
                cwd=self.workspace.root, group=group, stdin=fds[0], stdout=fds[1], stderr=fds[2],
            )  # fmt: skip
        finally:
            for fd in fds:
                os.close(fd)
        self.spawned[name] = (child, group)
        return {"pid": child.pid}

    def stop_spawned(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        if request["name"] in self.spawned:
            self._stop_spawned(request["name"])
        return {}

    def _stop_spawned(self, name: str) -> None:
        child, group = self.spawned.pop(name)
        self.groups.kill(group, child.pid)
        child.kill()
        self.reactor.run_until(lambda: child.exited)
        self.groups.remove(group, self.reactor)

    # -- state and transfers ----------------------------------------------------------------

    def todo_write(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        todos = request["todos"]
        files.replace(f"{self.state_dir}/todos.json", "todos", payload)
        if not todos:
            return _text("the todo list is empty")
        done = sum(todo["status"] == "completed" for todo in todos)
        lines = [f"{_MARKS[todo['status']]} {todo['content']}" for todo in todos]
        return _text("\n".join([*lines, f"{done} of {len(todos)} done"]))

    def put_files(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return {"count": transfer.put_files(self.workspace, request["files"], payload)}

    def install_skill(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        path = transfer.install_tree(self.workspace, request["name"], request["entries"], payload)
        return {"path": path}

    def snapshot(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return {"files": transfer.snapshot(self.workspace, int(request["max_entries"]))}

    def read_files(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        kept, dropped, data = transfer.read_files(
            self.workspace, request["paths"], request["max_files"], request["max_total_bytes"]
        )
        return {"files": kept, "dropped": dropped}, data

    def text_file(self, request: dict[str, Any], payload: bytes) -> dict[str, Any]:
        return {"text": transfer.text_file(self.workspace, request["path"], request["max_bytes"])}

    # -- the loop ------------------------------------------------------------------------

    def handle(self, request: dict[str, Any], payload: bytes) -> tuple[dict[str, Any], bytes]:
        """The answer to one request; a failure is an answer too."""
        handler = self.handlers.get(request.get("op", ""))
        if handler is None:
            return {"ok": False, "error": f"unknown request {request.get('op')!r}"}, b""
        try:
            result = handler(request, payload)
        except Failure as failure:
            return {"ok": False, "error": str(failure)}, b""
        except OSError as error:
            return {"ok": False, "error": f"{request['op']}: {error.strerror or error}"}, b""
        head, data = result if isinstance(result, tuple) else (result, b"")
        return {"ok": True, **head}, data

    def close(self) -> None:
        """End every process the server started."""
        self.reset({}, b"")
        self.spares.close()
        self.groups.remove_all(self.reactor)


def _text(output: str) -> dict[str, Any]:
    return {"output": output}


def serve(channel: int, fds: int) -> None:
    """Answer requests on `channel` until it closes; descriptors arrive on `fds`."""
    hello, _ = read_request(channel)
    server = Server(hello["config"], fds, channel)
    for name in ("workspace", "state"):
        os.makedirs(hello["config"][name], exist_ok=True)
    gc.freeze()  # what startup made stays put, so forks of the server share its pages
    server.spares.prepare()
    answer(channel, {"id": hello["id"], "ok": True, "pid": os.getpid()})
    closed = False

    def on_request() -> None:
        nonlocal closed
        server.reactor.forget(channel)
        try:
            request, payload = read_request(channel)
        except EOFError:
            closed = True
            return
        head, data = server.handle(request, payload)
        answer(channel, {"id": request.get("id"), **head}, data)
        server.groups.sweep()  # after answering: the caller does not wait for it
        server.reactor.watch(channel, on_request)

    server.reactor.watch(channel, on_request)
    try:
        server.reactor.run_until(lambda: closed)
    finally:
        server.close()


def main(channel: int, fds: int) -> None:
    """Entry point inside the sandbox."""
    # Descriptors the launch handed down (the channel, the workspace's lock) are the tool
    # server's own: commands it starts get none of them.
    for name in os.listdir("/proc/self/fd"):
        if int(name) > 2:
            try:
                os.set_inheritable(int(name), False)
            except OSError:
                pass
    os.umask(0o022)
    serve(channel, fds)
