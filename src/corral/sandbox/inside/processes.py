"""Commands inside the environment: started, their output captured within bounds, ended whole.

A foreground command takes a spare (see `spares`) that is already in a group of its own, so its
timeout, its cancellation and its end kill everything it started, setsid children included.
While it runs, its output may also be relayed as it comes (`Relay`), so that a person watching a
long command sees it work; the answer at its end is the same either way.
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
    from collections.abc import Callable, Sequence

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


class Relay:
    """Passes a running command's first bytes on: in spaced, bounded frames, up to a total.

    The first frame leaves one interval after the start, so a command that ends sooner relays
    nothing: its answer follows at once anyway, and most commands are that quick. Bytes are
    relayed as they come, not decoded: the worker decodes them, and enforces the same bounds
    again, since nothing that comes out of an environment is trusted there.
    """

    def __init__(
        self,
        send: Callable[[bytes], None],
        *,
        limit: int,
        frame: int,
        every_s: float,
        started: float,
    ) -> None:
        self._send = send
        self._left = limit
        self._frame = frame
        self._every_s = every_s
        self._pending = bytearray()
        self._sent_at = started
        self._relaying = False
        """Whether a frame has left (only then does the end send one more)."""

    def feed(self, chunk: bytes) -> None:
        """Take the next bytes of the output (past the limit, they are dropped)."""
        if self._left > 0:
            kept = chunk[: self._left]
            self._pending += kept
            self._left -= len(kept)

    @property
    def due_at(self) -> float | None:
        """When the next frame may leave (monotonic), or None while nothing waits."""
        return self._sent_at + self._every_s if self._pending else None

    def send(self, now: float) -> None:
        """Send a frame of what waits, if one may leave at `now`."""
        if self._pending and now >= self._sent_at + self._every_s:
            self._sent_at = now
            self._send_frame()

    def finish(self) -> None:
        """The command has ended: one last frame of what waits, if frames left before."""
        if self._pending and self._relaying:
            self._send_frame()
        self._pending.clear()

    def _send_frame(self) -> None:
        data = bytes(self._pending[: self._frame])
        del self._pending[: self._frame]
        self._relaying = True
        try:
            self._send(data)
        except OSError:  # the worker is gone: the command still ends the usual way
            self._left = 0
            self._pending.clear()


def _relaying(reactor: Reactor, child: Child, relay: Relay, deadline: float) -> bool:
    """Run the reactor until `child` exits, relaying as output comes; False at `deadline`."""
    while True:
        due = relay.due_at
        if due is None:  # wake as soon as output comes
            reactor.run_until(lambda: child.exited or relay.due_at is not None, deadline)
        else:
            reactor.run_until(lambda: child.exited, min(due, deadline))
        if child.exited:
            return True
        now = time.monotonic()
        if now >= deadline:
            return False
        relay.send(now)


def _both(
    first: Callable[[bytes], None], second: Callable[[bytes], None]
) -> Callable[[bytes], None]:
    def feed(chunk: bytes) -> None:
        first(chunk)
        second(chunk)

    return feed


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
    relay: Relay | None = None,
) -> dict[str, object]:
    """Run a command to its end or its timeout; nothing it started outlives the call."""
    started = time.monotonic()
    spare = spares.take()
    spare.exec(find_program(argv[0], env.get("PATH", "")), argv, env=env, cwd=cwd)
    child = spare.child
    capture = Capture(max_chars)
    deadline = started + timeout_s
    if relay is None:
        drain = Drain(reactor, spare.output, capture.feed)
        finished = reactor.run_until(lambda: child.exited, deadline)
    else:
        drain = Drain(reactor, spare.output, _both(capture.feed, relay.feed))
        finished = _relaying(reactor, child, relay, deadline)
    groups.kill(spare.group, child.pid)
    child.kill()
    reactor.run_until(lambda: child.exited)
    reactor.run_until(lambda: drain.closed, time.monotonic() + _DRAIN_S)
    drain.close()
    if relay is not None:
        relay.finish()
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
