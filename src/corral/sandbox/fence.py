"""The fence: a worker's environments die when its leases lapse, even if the worker cannot act.

A worker that is frozen past its lease (stopped, swapped out, starved) must not go on running
commands of runs another worker has taken over. The worker tells a watchdog process (see
`watchdog`) how long its leases hold, a little less than their real expiry, after each renewal;
when that passes without a renewal, the watchdog kills every environment the worker has, before
another worker may claim the runs. If the worker dies, the watchdog kills them at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
import time
from pathlib import Path

__all__ = ["Fence"]

logger = logging.getLogger(__name__)

_SCRIPT = Path(__file__).with_name("watchdog.py")


class Fence:
    """A watchdog process holding this worker's environments to its leases."""

    def __init__(self) -> None:
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        """Start the watchdog, in a session of its own so a signal to the worker spares it."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable, "-I", "-S", str(_SCRIPT),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip

    def hold_until(self, deadline: float) -> None:
        """Environments may live until `deadline` (`time.monotonic()` seconds) unless renewed."""
        self._send(f"d {deadline:.6f}")

    def hold_for(self, seconds: float) -> None:
        """Environments may live `seconds` from now unless renewed."""
        self.hold_until(time.monotonic() + seconds)

    def track(self, environment_id: str, pid: int, kill_switch: str | None) -> None:
        """Kill this environment (its sandbox `pid`, its `cgroup.kill`) when the fence falls."""
        self._send(f"a {environment_id} {pid} {kill_switch or '-'}")

    def forget(self, environment_id: str) -> None:
        """The environment has stopped."""
        self._send(f"r {environment_id}")

    def _send(self, line: str) -> None:
        process = self._process
        if process is None or process.stdin is None or process.returncode is not None:
            return
        with contextlib.suppress(OSError, RuntimeError):
            process.stdin.write(line.encode() + b"\n")

    async def close(self) -> None:
        """Stop the watchdog; it kills what it still tracks (nothing, after a clean stop)."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.stdin is not None:
            process.stdin.close()
        try:
            await asyncio.wait_for(process.wait(), 5)
        except TimeoutError:
            process.kill()
            await process.wait()
