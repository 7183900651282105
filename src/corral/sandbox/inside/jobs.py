"""Background commands: output appended to a bounded log in the environment, read by offset.

Reads hand out whole UTF-8 characters only, even while one is still half written, so a caller
polling a running job never sees a character split across two reads.
"""

from __future__ import annotations

import os

from corral.sandbox.inside.errors import Failure
from corral.sandbox.inside.groups import Groups
from corral.sandbox.inside.reactor import Child, Drain, Reactor
from corral.sandbox.inside.spares import Spares, find_program


class Job:
    """One background command, its group and its log."""

    def __init__(
        self, reactor: Reactor, groups: Groups, *, child: Child, group: str | None, log: str,
        output_fd: int, limit: int,
    ) -> None:  # fmt: skip
        self.child = child
        self.group = group
        self.log = log
        self.offset = 0
        """How much of the log the agent has read."""
        self.killed = False
        self._groups = groups
        self._reactor = reactor
        self._limit = limit
        self._written = 0
        self._log_fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self._drain = Drain(reactor, output_fd, self._append)

    @property
    def running(self) -> bool:
        """True until the command has exited and its output is all in the log."""
        return not (self.child.exited and self._drain.closed)

    def _append(self, chunk: bytes) -> None:
        if self._written < self._limit:
            room = self._limit - self._written
            os.write(self._log_fd, chunk[:room])
            if len(chunk) > room:
                note = (
                    f"\n[... output limit of {self._limit} bytes reached; "
                    "the rest is dropped ...]\n"
                )
                os.write(self._log_fd, note.encode())
        self._written += len(chunk)

    def kill(self) -> None:
        """End the job's whole tree and collect what it wrote."""
        if self.running:
            self.killed = True
        self._groups.kill(self.group, self.child.pid)
        self.child.kill()
        self._reactor.run_until(lambda: self.child.exited)
        self._drain.close()
        self._groups.remove(self.group, self._reactor)

    def close(self) -> None:
        """Kill it and close its log."""
        self.kill()
        os.close(self._log_fd)


class Jobs:
    """The environment's background jobs, named `job-1`, `job-2`... in start order."""

    def __init__(
        self,
        reactor: Reactor,
        spares: Spares,
        groups: Groups,
        *,
        directory: str,
        limit: int,
        max_running: int,
    ) -> None:
        self._reactor = reactor
        self._spares = spares
        self._groups = groups
        self._directory = directory
        self._limit = limit
        self._max_running = max_running
        self._jobs: dict[str, Job] = {}
        self._started = 0
        os.makedirs(directory, exist_ok=True)

    def start(self, argv: list[str], *, env: dict[str, str], cwd: str) -> str:
        """Start `argv` in the background; its name."""
        self._reactor.poll_once()
        if sum(job.running for job in self._jobs.values()) >= self._max_running:
            raise Failure(f"{self._max_running} background jobs are running already")
        self._started += 1
        name = f"job-{self._started}"
        spare = self._spares.take()
        spare.exec(find_program(argv[0], env.get("PATH", "")), argv, env=env, cwd=cwd)
        log = f"{self._directory}/{name}.log"
        if os.path.lexists(log):
            os.unlink(log)
        self._jobs[name] = Job(
            self._reactor, self._groups, child=spare.child, group=spare.group, log=log,
            output_fd=spare.output, limit=self._limit,
        )  # fmt: skip
        return name

    def read(self, name: str, max_chars: int) -> dict[str, object]:
        """What the job wrote since the last read, and whether it still runs."""
        job = self._find(name)
        self._reactor.poll_once()
        running = job.running  # before reading, so a finished job's output is all there
        try:
            with open(job.log, "rb") as log:
                log.seek(job.offset)
                data = log.read(max_chars + 3)
        except OSError:
            data = b""
        data = whole_characters(data, max_chars, at_end=not running)
        job.offset += len(data)
        exit_code = None if running or job.killed else job.child.exit_code
        return {"text": data.decode("utf-8", "replace"), "running": running, "exit_code": exit_code}

    def kill(self, name: str) -> None:
        """Stop a job and forget it."""
        job = self._find(name)
        del self._jobs[name]
        job.close()

    def kill_all(self) -> int:
        """Stop every job; how many there were."""
        jobs, self._jobs = self._jobs, {}
        for job in jobs.values():
            job.close()
        return len(jobs)

    def _find(self, name: str) -> Job:
        job = self._jobs.get(name)
        if job is None:
            raise Failure(f"no background job {name!r} in this run")
        return job


def whole_characters(data: bytes, limit: int, *, at_end: bool) -> bytes:
    """The first `limit` bytes of `data`, stretched or cut so no UTF-8 character is split."""
    if len(data) <= limit and at_end:
        return data  # nothing more will come: hand out even a broken final sequence
    cut = min(limit, len(data))
    for start in range(cut - 1, max(cut - 4, 0) - 1, -1):
        byte = data[start]
        if byte & 0xC0 == 0x80:  # a continuation byte: the character starts further back
            continue
        size = 1 if byte < 0x80 else 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
        end = start + size
        if end <= len(data):
            return data[: max(end, cut)]
        return data[:start]
    return data[:cut]
