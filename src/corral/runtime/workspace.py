"""The workspace of one executing run, as its tools reach it: an environment, started on demand.

The environment is acquired on first use and restarted after a loss (the files stay on disk).
Its baseline, taken once per run, tells which files the run created or changed: those are its
outputs, collected through the environment at the end. Bookkeeping (markers, baselines) lives
in the workspace's `state` folder, which belongs to the worker and is never seen inside.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corral.errors import EnvironmentFailed
from corral.sandbox import disk
from corral.sandbox.channel import Answer, Progress
from corral.sandbox.environment import Environment, EnvironmentLost, EnvironmentSpec
from corral.sandbox.environment import EnvironmentUnavailable as Unstartable
from corral.sandbox.pool import Environments
from corral.tools import artifacts

if TYPE_CHECKING:
    from corral.tools.mcp_stdio import ServerPipes

__all__ = ["RunWorkspace", "load_state", "save_state"]

logger = logging.getLogger(__name__)

STATE_DIR = "state"
SNAPSHOT_TIMEOUT_S = 120.0
SPAWN_TIMEOUT_S = 30.0


class RunWorkspace:
    """One run's environment: what its tools call, and what crosses in and out of it."""

    def __init__(
        self,
        *,
        run_id: str,
        spec: EnvironmentSpec,
        environments: Environments,
        keep_warm: bool,
    ) -> None:
        self.run_id = run_id
        self.spec = spec
        self.root = environments.host.workspaces / spec.key
        self._environments = environments
        self._keep_warm = keep_warm
        self._environment: Environment | None = None
        self._baseline: dict[str, list[int]] | None = None

    @property
    def exists(self) -> bool:
        """Whether the workspace has files from before (a session's earlier runs)."""
        return (self.root / disk.IMAGE).exists() or (self.root / disk.FOLDER).exists()

    @property
    def opened(self) -> bool:
        """Whether this run has used its environment (and so has a baseline)."""
        return self._baseline is not None

    async def environment(self) -> Environment:
        """The running environment, started (or restarted after a loss) when needed."""
        if self._environment is not None and self._environment.alive:
            return self._environment
        if self._environment is not None:
            await self._environments.release(self._environment, keep_warm=False)
            self._environment = None
        try:
            self._environment = await self._environments.acquire(self.spec)
        except Unstartable as error:
            raise EnvironmentFailed(f"the run's environment could not start: {error}") from None
        return self._environment

    async def call(
        self,
        op: str,
        fields: dict[str, Any] | None = None,
        *,
        timeout_s: float,
        payload: bytes = b"",
        max_payload: int = 0,
        progress: Progress | None = None,
    ) -> Answer:
        """One request to the tool server, after the run's baseline is taken.

        Raises:
            EnvironmentLost: the environment failed; the next call starts a new one.
        """
        environment = await self.opened_environment()
        memory_kills = environment.oom_kills()
        try:
            answer = await environment.call(
                op,
                fields,
                timeout_s=timeout_s,
                payload=payload,
                max_payload=max_payload,
                progress=progress,
            )
        except EnvironmentLost:
            await self._environments.release(environment, keep_warm=False)
            self._environment = None
            raise
        if environment.oom_kills() > memory_kills:
            answer.fields["memory_exhausted"] = True
        return answer

    async def opened_environment(self) -> Environment:
        """The environment, with the run's baseline taken (once per run)."""
        environment = await self.environment()
        if self._baseline is None:
            marker = f"baseline-{self.run_id}"
            baseline = load_state(self.root, marker, None)
            if baseline is None:
                baseline = await self.snapshot()
                save_state(self.root, marker, baseline)
            self._baseline = baseline
        return environment

    async def snapshot(self) -> dict[str, list[int]]:
        """Every regular file of the workspace: path → [size, mtime_ns]."""
        environment = await self.environment()
        answer = await environment.call(
            "snapshot",
            {"max_entries": artifacts.MAX_SNAPSHOT_ENTRIES},
            timeout_s=SNAPSHOT_TIMEOUT_S,
        )
        files = answer.fields.get("files") if answer.ok else None
        if not isinstance(files, dict):
            raise EnvironmentLost(answer.error or "the workspace could not be listed")
        return {str(path): list(mark) for path, mark in files.items() if isinstance(mark, list)}

    async def outputs(self) -> list[tuple[str, bytes]]:
        """The files this run created or changed (none if it never used its environment)."""
        if self._baseline is None:
            return []
        try:
            paths = artifacts.changed(self._baseline, await self.snapshot())
            if not paths:
                return []
            environment = await self.environment()
            answer = await environment.call(
                "read_files",
                {
                    "paths": paths,
                    "max_files": artifacts.MAX_OUTPUT_FILES,
                    "max_total_bytes": artifacts.MAX_OUTPUT_BYTES,
                },
                timeout_s=SNAPSHOT_TIMEOUT_S,
                max_payload=artifacts.MAX_OUTPUT_BYTES,
            )
        except (EnvironmentLost, EnvironmentFailed) as error:
            logger.warning(
                "outputs not collected: %s",
                error,
                extra={"action": "outputs.lost", "run_id": self.run_id},
            )
            return []
        return _split(answer, set(paths), self.run_id)

    async def start(self, name: str, argv: list[str], env: dict[str, str]) -> ServerPipes:
        """Start a local MCP server in the environment; the worker's ends of its pipes.

        (With `stop`, this makes the workspace the `mcp_stdio.Launcher` of the run.)
        """
        environment = await self.opened_environment()
        child_ends: list[int] = []
        our_ends: list[int] = []
        for child_reads in (True, False, False):  # stdin, stdout, stderr
            read_fd, write_fd = os.pipe()
            child_ends.append(read_fd if child_reads else write_fd)
            our_ends.append(write_fd if child_reads else read_fd)
        try:
            answer = await environment.call(
                "spawn",
                {"name": name, "argv": argv, "env": env},
                timeout_s=SPAWN_TIMEOUT_S,
                fds=tuple(child_ends),
            )
        except BaseException:
            for fd in our_ends:
                os.close(fd)
            raise
        finally:
            for fd in child_ends:
                os.close(fd)
        if not answer.ok:
            for fd in our_ends:
                os.close(fd)
            raise OSError(answer.error or f"cannot start {argv[0]}")
        from corral.tools.mcp_stdio import ServerPipes  # with the MCP SDK, only when used

        return ServerPipes(stdin=our_ends[0], stdout=our_ends[1], stderr=our_ends[2])

    async def stop(self, name: str) -> None:
        """Stop a local MCP server and everything it started."""
        if self._environment is not None and self._environment.alive:
            await self._environment.call("stop_spawned", {"name": name}, timeout_s=SPAWN_TIMEOUT_S)

    async def close(self) -> None:
        """The run is over: end its jobs and servers, keep the environment for its session."""
        if self._environment is not None:
            environment, self._environment = self._environment, None
            await self._environments.release(environment, keep_warm=self._keep_warm)


def _split(answer: Answer, asked: set[str], run_id: str) -> list[tuple[str, bytes]]:
    """The files of a `read_files` answer, cut out of its payload; dropped ones are logged."""
    files = answer.fields.get("files")
    if not answer.ok or not isinstance(files, list):
        return []
    collected: list[tuple[str, bytes]] = []
    offset = 0
    for entry in files:
        if not isinstance(entry, dict):
            break
        path, size = entry.get("path"), entry.get("size")
        if not isinstance(path, str) or not isinstance(size, int) or size < 0:
            break
        content = answer.payload[offset : offset + size]
        offset += size
        if path in asked and len(content) == size:
            collected.append((path, content))
    dropped = answer.fields.get("dropped")
    if isinstance(dropped, list) and dropped:
        logger.warning(
            "some outputs were not collected",
            extra={
                "action": "outputs.dropped",
                "run_id": run_id,
                "dropped_count": len(dropped),
                "dropped": [": ".join(map(str, item)) for item in dropped[:20]],
            },
        )
    return collected


def load_state(root: Path, name: str, default: Any) -> Any:
    """A piece of the worker's bookkeeping for the workspace at `root`, or `default`."""
    path = root / STATE_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def save_state(root: Path, name: str, value: Any) -> None:
    """Keep a piece of bookkeeping (written whole, then renamed into place)."""
    directory = root / STATE_DIR
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    temporary = directory / f".{name}.json.tmp"
    temporary.write_text(json.dumps(value))
    os.replace(temporary, directory / f"{name}.json")
