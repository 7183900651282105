"""Runs an agent's shell commands isolated from the host, bounded in time, memory and output.

The strongest isolation the host offers is probed once (`probe`): bubblewrap with dropped
capabilities, a read-only view of the system and a private PID namespace, plus per-call cgroups
when they are writable. Without bubblewrap commands still run, limited by rlimits and killed by
process group, and `Capabilities` says so instead of pretending. Whole process trees are killed on
timeout, cancellation and run end; nothing here decides policy (sizes, networking) for a run.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import os
import secrets
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from corral.tools import cgroups
from corral.tools.capabilities import Capabilities, probe
from corral.tools.confinement import (
    RUNTIME_SIZES,
    SYSTEM_PATH,
    Box,
    Confinement,
    Limits,
    RuntimeSize,
    SandboxUnsupported,
    shim,
)
from corral.tools.jobs import Job
from corral.tools.processes import ProcessTree

__all__ = [
    "RUNTIME_SIZES",
    "Box",
    "Capabilities",
    "CommandResult",
    "Job",
    "Killed",
    "Limits",
    "RuntimeSize",
    "Sandbox",
    "SandboxUnsupported",
    "probe",
]

logger = logging.getLogger(__name__)

Killed = Literal["timeout", "cancelled", "memory"]

_MARKER = "\n[... output truncated: {omitted} of {total} characters omitted ...]\n"


@dataclass(frozen=True, kw_only=True)
class CommandResult:
    """How a foreground command ended, and what it wrote."""

    exit_code: int | None
    """The command's exit status; None when it was killed (by us or by a signal)."""
    output: str
    """stdout and stderr interleaved as written, bounded (head and tail around a marker)."""
    timed_out: bool
    killed: Killed | None
    """Why the tree was killed; `memory` also when the OOM killer took only part of it."""
    duration_s: float


class Sandbox:
    """Runs commands in boxes, in the foreground or as background jobs."""

    def __init__(
        self,
        capabilities: Capabilities | None = None,
        *,
        path: str | None = None,
        toolchains: Sequence[Path] | None = None,
    ) -> None:
        """Prepare to run commands with the given (default: probed) capabilities.

        Args:
            capabilities: What to enforce; pass a weaker set than `probe()` to run in a lower tier.
            path: PATH inside the sandbox; default, the server's own minus its virtualenv.
            toolchains: Directories under the server's (masked) home that stay readable inside;
                default, those PATH points into, plus `~/.rustup` for the cargo proxies.
        """
        self.capabilities = capabilities or probe()
        self._confinement = Confinement(self.capabilities, path=path, toolchains=toolchains)
        self._jobs: dict[tuple[Path, Path], dict[str, Job]] = {}
        self._groups: dict[tuple[Path, Path], list[cgroups.Group]] = {}

    async def run(
        self,
        command: str,
        box: Box,
        *,
        timeout_s: float,
        max_output_chars: int = 50_000,
        stdin: str | None = None,
    ) -> CommandResult:
        """Run `bash -lc command` in the box and wait for it, at most `timeout_s` seconds.

        On timeout, and when the awaiting task is cancelled, the whole tree is killed (the
        cancellation is re-raised); nothing the command started outlives the call.
        """
        started = time.monotonic()
        tree = await self._spawn(command, box, stdin=stdin is not None)
        capture = _Capture(max_output_chars)
        reader = asyncio.create_task(tree.drain(capture.feed))
        feeder = asyncio.create_task(tree.feed(stdin)) if stdin is not None else None
        killed: Killed | None = None
        try:
            try:
                await asyncio.wait_for(tree.proc.wait(), timeout_s)
            except TimeoutError:
                killed = "timeout"
            await tree.finish(reader)
        except asyncio.CancelledError:
            await tree.abandon(reader)
            raise
        finally:
            if feeder is not None:
                feeder.cancel()
        if killed is None and tree.oom_killed:
            killed = "memory"
        returncode = tree.proc.returncode
        if killed == "timeout" or returncode is None or returncode < 0:
            returncode = None
        return CommandResult(
            exit_code=returncode,
            output=capture.text(),
            timed_out=killed == "timeout",
            killed=killed,
            duration_s=time.monotonic() - started,
        )

    async def start(self, command: str, box: Box, *, max_output_bytes: int = 10_000_000) -> Job:
        """Start `bash -lc command` in the box as a background job whose output goes to a file."""
        await asyncio.to_thread(box.jobs_dir.mkdir, parents=True, exist_ok=True)
        job_id = "job_" + secrets.token_hex(6)
        tree = await self._spawn(command, box, stdin=False)
        job = Job(id=job_id, tree=tree, log=box.jobs_dir / f"{job_id}.log", limit=max_output_bytes)
        self._jobs.setdefault(_box_key(box), {})[job_id] = job
        return job

    def job(self, box: Box, job_id: str) -> Job | None:
        """The box's job with this id, running or finished, until the box is closed."""
        return self._jobs.get(_box_key(box), {}).get(job_id)

    def jobs(self, box: Box) -> list[Job]:
        """The box's jobs, oldest first."""
        return list(self._jobs.get(_box_key(box), {}).values())

    async def close_box(self, box: Box) -> None:
        """Kill every job still running in the box and forget them all (the run has ended)."""
        jobs = self._jobs.pop(_box_key(box), {})
        await asyncio.gather(*(job.kill() for job in jobs.values()))
        for group in self._groups.pop(_box_key(box), []):
            await group.remove()

    def wrap(self, argv: Sequence[str], box: Box) -> list[str]:
        """A command line running `argv` in the box, for a program something else spawns.

        Used for local (stdio) MCP servers. Killing the returned process ends its whole tree
        (PID namespace tier); its cgroup is removed by `close_box`.
        """
        inner = self._confinement.argv(list(argv), box)
        group = self._new_group(box.limits)
        if group is not None:
            self._groups.setdefault(_box_key(box), []).append(group)
        return shim(group, box.limits) + inner

    async def _spawn(self, command: str, box: Box, *, stdin: bool) -> ProcessTree:
        login_command = self._confinement.login_command(command)
        argv = self._confinement.argv(["bash", "-lc", login_command], box)
        group = self._new_group(box.limits)
        read_fd, write_fd = os.pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *shim(group, box.limits),
                *argv,
                stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                stdout=write_fd,
                stderr=write_fd,
                env={"PATH": SYSTEM_PATH},
                cwd=box.workspace,
                start_new_session=True,
            )
        except BaseException:
            os.close(read_fd)
            if group is not None:
                await group.remove()
            raise
        finally:
            os.close(write_fd)
        logger.debug(
            "sandboxed command started",
            extra={"action": "sandbox.start", "pid": proc.pid, "workspace": str(box.workspace)},
        )
        return ProcessTree(proc=proc, group=group, output_fd=read_fd)

    def _new_group(self, limits: Limits) -> cgroups.Group | None:
        layout = self.capabilities.layout if self.capabilities.cgroups else None
        if layout is None:
            return None
        group: cgroups.Group = layout.create(
            memory_bytes=limits.memory_mb << 20, cpus=limits.cpus, pids=limits.pids
        )
        return group


class _Capture:
    """Decodes a stream keeping its head and tail within a bound, counting what falls between."""

    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._head = ""
        self._tail = ""
        self._total = 0

    def feed(self, chunk: bytes) -> None:
        self._add(self._decoder.decode(chunk))

    def text(self) -> str:
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


def _box_key(box: Box) -> tuple[Path, Path]:
    return box.workspace, box.tmp
