"""The fence's watchdog: a tiny separate process that kills environments whose lease lapsed.

Run as `python -I -S watchdog.py` by the fence (standard library only). It reads commands on
stdin, one per line: `d DEADLINE` (a CLOCK_MONOTONIC time in seconds), `a ID PID KILLFILE`
(track an environment: its sandbox pid, and a `cgroup.kill` file or `-`), `r ID` (forget one).
When the deadline passes without a newer one, or stdin closes (the worker died), it SIGKILLs
every tracked environment. It is a process of its own so that a worker that is frozen (stopped,
swapped out, paused by a debugger) cannot keep running commands of runs it no longer owns.
"""

from __future__ import annotations

import os
import select
import signal
import sys
import time

Tracked = dict[str, tuple[int | None, str]]
"""Environment id → (pidfd of its first process, or None once gone; its kill switch or `-`)."""


def _kill(tracked: Tracked) -> None:
    for pidfd, killfile in tracked.values():
        if killfile != "-":
            try:
                with open(killfile, "w") as switch:
                    switch.write("1")
            except OSError:
                pass
        if pidfd is not None:
            try:
                signal.pidfd_send_signal(pidfd, signal.SIGKILL)
            except OSError:
                pass
            os.close(pidfd)
    if tracked:
        sys.stderr.write(f"corral watchdog: lease lapsed, killed {len(tracked)} environment(s)\n")
        sys.stderr.flush()
    tracked.clear()


def _apply(line: str, tracked: Tracked, deadline: float | None) -> float | None:
    parts = line.split()
    if not parts:
        return deadline
    if parts[0] == "d" and len(parts) == 2:
        return float(parts[1])
    if parts[0] == "a" and len(parts) == 4:
        try:  # a pidfd names this very process: a pid reused after its exit is never hit
            pidfd: int | None = os.pidfd_open(int(parts[2]))
        except OSError:
            pidfd = None
        tracked[parts[1]] = (pidfd, parts[3])
    elif parts[0] == "r" and len(parts) == 2:
        forgotten = tracked.pop(parts[1], None)
        if forgotten is not None and forgotten[0] is not None:
            os.close(forgotten[0])
    return deadline


def main() -> None:
    """Watch until stdin closes."""
    tracked: Tracked = {}
    deadline: float | None = None
    buffered = b""
    stdin = sys.stdin.fileno()
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([stdin], [], [], timeout)
        if not ready:
            _kill(tracked)
            deadline = None
            continue
        chunk = os.read(stdin, 65536)
        if not chunk:
            _kill(tracked)
            return
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            deadline = _apply(line.decode(), tracked, deadline)
        if deadline is not None and time.monotonic() >= deadline:
            _kill(tracked)
            deadline = None


if __name__ == "__main__":
    main()
