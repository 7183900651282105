"""Commands inside the environment: started, their output captured within bounds, ended whole.

A foreground command takes a spare (see `spares`) that is already in a group of its own, so its
timeout, its cancellation and its end kill everything it started, setsid children included.
"""

from __future__ import annotations

import codecs
import os
import time

from corral.sandbox.inside.groups import Groups, write
from corral.sandbox.inside.reactor import Child, Drain, Reactor
from corral.sandbox.inside.spares import Spares, find_program

TYPE_CHECKING = False  # `typing` itself would cost the tool server's start
if TYPE_CHECKING:
    from collections.abc import Sequence

_MARKER = "\n[... output truncated: {omitted} of {total} characters omitted ...]\n"
_DRAIN_S = 1.0
"""How long output is still read after a command's tree is gone (a pipe held by an escapee)."""


def spawn(
    reactor: Reactor,
    argv: Sequence[str],
    *,
    env: dict[str, str],
    cwd: str,
    group: str | None,
    stdin: int,
    stdout: int,
    stderr: int,
) -> Child:
    """Start `argv` in a new session, in `group`, with these standard streams."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child execs or exits
        try:
            os.setsid()
            if group is not None:
                write(f"{group}/cgroup.procs", str(os.getpid()))
            os.dup2(stdin, 0)
            os.dup2(stdout, 1)
            os.dup2(stderr, 2)
            os.chdir(cwd)
            os.execvpe(argv[0], list(argv), env)
        except BaseException as error:
            try:
                os.write(2, f"cannot start {argv[0]}: {error}\n".encode())
            except OSError:
                pass
        os._exit(127)
    return Child(reactor, pid)


class Capture:
    """Decodes output keeping its head and tail within a bound, counting what falls between."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""
        self._tail = ""
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes."""
        self._add(self._decoder.decode(chunk))

    def text(self) -> str:
        """Everything, or its head and tail around a marker."""
        self._add(self._decoder.decode(b"", final=True))
        if self._total <= self._limit:
            return self._head + self._tail
        keep = self._limit // 2
        last = (self._head + self._tail)[-keep:] if keep else ""
        marker = _MARKER.format(omitted=self._total - 2 * keep, total=self._total)
        return self._head[:keep] + marker + last

    def _add(self, text: str) -> None:
        self._total += len(text)
        room = self._limit - len(self._head)
        if room > 0:
            self._head += text[:room]
            text = text[room:]
        self._tail += text
        if len(self._tail) > 2 * self._limit:
            self._tail = self._tail[-self._limit :]


def run(
    reactor: Reactor,
    spares: Spares,
    groups: Groups,
    argv: list[str],
    *,
    env: dict[str, str],
    cwd: str,
    timeout_s: float,
    max_chars: int,
) -> dict[str, object]:
    """Run a command to its end or its timeout; nothing it started outlives the call."""
    started = time.monotonic()
    spare = spares.take()
    spare.exec(find_program(argv[0], env.get("PATH", "")), argv, env=env, cwd=cwd)
    child = spare.child
    capture = Capture(max_chars)
    drain = Drain(reactor, spare.output, capture.feed)
    finished = reactor.run_until(lambda: child.exited, started + timeout_s)
    groups.kill(spare.group, child.pid)
    child.kill()
    reactor.run_until(lambda: child.exited)
    reactor.run_until(lambda: drain.closed, time.monotonic() + _DRAIN_S)
    drain.close()
    groups.remove(spare.group, reactor)
    signal = None
    if child.status is not None and os.WIFSIGNALED(child.status):
        signal = os.WTERMSIG(child.status)
    return {
        "exit_code": child.exit_code if finished else None,
        "signal": signal,
        "output": capture.text(),
        "timed_out": not finished,
        "duration_s": time.monotonic() - started,
    }
