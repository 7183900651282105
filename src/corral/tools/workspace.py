"""The workspace of a run: its directories, its sandbox box, its background jobs and network.

A session's runs share one workspace (named after the session), so files persist from message
to message; a run outside a session gets its own. Layout under the workspaces directory:

    <run or session id>/workspace   the agent's files, the cwd of every command
    <run or session id>/home        HOME of its commands
    <run or session id>/tmp         /tmp of its commands (on disk, not in memory)
    <run or session id>/state       Corral's own bookkeeping (todos, setup marker), not visible
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corral.tools.network import NetworkPolicy, RunNetwork
from corral.tools.sandbox import RUNTIME_SIZES, Box, Job, Sandbox

STATE_DIR = "state"


class PathOutsideWorkspace(ValueError):
    """A tool was asked for a path outside the workspace."""


@dataclass
class Workspace:
    """Where one run's tools work."""

    key: str
    """The run's or the session's id."""
    root: Path
    sandbox: Sandbox
    box: Box
    network: RunNetwork | None = None
    jobs: dict[str, Job] = field(default_factory=dict)
    read_offsets: dict[str, int] = field(default_factory=dict)
    """How much of each job's output the agent has read (bash_output returns only what is new)."""
    started_jobs: int = 0

    def add_job(self, job: Job) -> str:
        """Keep a background job; its name for the agent (`job-1`, `job-2`...)."""
        self.started_jobs += 1
        name = f"job-{self.started_jobs}"
        self.jobs[name] = job
        return name

    @property
    def path(self) -> Path:
        """The agent's files."""
        return self.box.workspace

    def resolve(self, relative: str) -> Path:
        """`relative` (or absolute, if inside) as a path in the workspace, symlinks resolved.

        A path that leaves the workspace, directly or through a symlink, is refused.
        """
        raw = Path(relative)
        candidate = raw if raw.is_absolute() else self.path / raw
        resolved = candidate.resolve(strict=False)
        base = self.path.resolve()
        if resolved != base and base not in resolved.parents:
            raise PathOutsideWorkspace(f"{relative!r} is outside the workspace ({self.path})")
        return resolved

    def relative(self, path: Path) -> str:
        """How the agent names `path`."""
        try:
            return str(path.relative_to(self.path.resolve())) or "."
        except ValueError:
            return str(path)

    def load_state(self, name: str, default: Any) -> Any:
        """A piece of bookkeeping kept across the workspace's runs."""
        return load_state(self.root, name, default)

    def save_state(self, name: str, value: Any) -> None:
        """Keep a piece of bookkeeping."""
        save_state(self.root, name, value)

    async def close(self) -> None:
        """Stop its background jobs and its network; the files stay for the retention time."""
        await self.sandbox.close_box(self.box)
        self.jobs.clear()
        if self.network is not None:
            await self.network.close()
            self.network = None


def load_state(root: Path, name: str, default: Any) -> Any:
    """A piece of bookkeeping of the workspace at `root`, or `default`."""
    path = root / STATE_DIR / f"{name}.json"
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return default


def save_state(root: Path, name: str, value: Any) -> None:
    """Keep a piece of bookkeeping (written whole, then renamed into place)."""
    directory = root / STATE_DIR
    directory.mkdir(parents=True, exist_ok=True)
    temporary = directory / f".{name}.json.tmp"
    temporary.write_text(json.dumps(value))
    os.replace(temporary, directory / f"{name}.json")


async def open_workspace(
    key: str,
    *,
    base: Path,
    environment: dict[str, Any],
    sandbox: Sandbox,
    hidden: tuple[Path, ...],
) -> Workspace:
    """The workspace of `key`, created if new, with its network set up for this run."""
    root = base / key
    for name in ("workspace", "home", "tmp", STATE_DIR):
        (root / name).mkdir(parents=True, exist_ok=True)
    networking = environment.get("networking") or {}
    policy = NetworkPolicy(
        mode=networking.get("mode", "open"),
        allowed_hosts=tuple(networking.get("allowed_hosts") or ()),
    )
    network = await RunNetwork.create(key, policy) if policy.mode == "limited" else None
    box = Box(
        workspace=root / "workspace",
        home=root / "home",
        tmp=root / "tmp",
        env=dict(environment.get("variables") or {}),
        limits=RUNTIME_SIZES[environment.get("runtime", "small")],
        hidden=hidden,
        netns=network.netns if network is not None else None,
        network="netns" if network is not None else "open",
        proxy_env=dict(network.proxy_env) if network is not None else {},
    )
    return Workspace(key=key, root=root, sandbox=sandbox, box=box, network=network)


def remove_workspace(base: Path, key: str) -> bool:
    """Delete a workspace's directories (retention); False when there was none."""
    root = base / key
    if not root.is_dir():
        return False
    shutil.rmtree(root, ignore_errors=True)
    return True
