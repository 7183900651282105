"""The tools of one executing run while it executes.

Its workspace is opened when first needed, its setup commands run once per workspace, and its
MCP servers are connected at the start and closed at the end.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from corral.errors import RunFailure
from corral.tools import artifacts
from corral.tools.base import Tool, ToolContext, ToolOutcome
from corral.tools.mcp import McpToolbox
from corral.tools.registry import ToolSet
from corral.tools.sandbox import Sandbox
from corral.tools.skills import Skill, SkillError, announce, install_skill
from corral.tools.workspace import Workspace, load_state, open_workspace, save_state
from corral.types.errors import ErrorCode

logger = logging.getLogger(__name__)

SETUP_TIMEOUT_S = 900.0
AGENTS_MD = "AGENTS.md"
MAX_AGENTS_MD_BYTES = 64_000
SETUP_DONE = "setup"


class SetupFailed(RunFailure):
    """A setup command of the environment failed."""

    code = ErrorCode.SETUP_FAILED


class InputsUnavailable(RunFailure):
    """An input file or skill of the run can no longer be placed in its workspace."""

    code = ErrorCode.INPUTS_UNAVAILABLE


Emit = Callable[..., None]
LoadFiles = Callable[[list[str]], Awaitable[dict[str, bytes]]]


class RunTooling:
    """What a run's server-side tools need while it executes."""

    def __init__(
        self,
        *,
        run_id: str,
        workspace_id: str,
        key: str,
        spec: dict[str, Any],
        tools: ToolSet,
        sandbox: Sandbox,
        base: Path,
        hidden: tuple[Path, ...],
        private_hosts: tuple[str, ...],
    ) -> None:
        self.run_id = run_id
        self.workspace_id = workspace_id
        self.key = key
        self.environment: dict[str, Any] = spec.get("environment") or {}
        self.tools = tools
        self.sandbox = sandbox
        self.base = base
        self.hidden = hidden
        self.private_hosts = private_hosts
        self.notes: list[str] = []
        """What the model must be told about its tools (servers that are unavailable)."""
        self.spec = spec
        self._workdir: Workspace | None = None
        self._mcp: McpToolbox | None = None
        self._baseline: dict[str, tuple[int, int]] | None = None

    async def workdir(self) -> Workspace:
        """The run's workspace, opened on first use.

        What the workspace holds then is the run's baseline: the files it creates or changes
        afterwards are its outputs.
        """
        if self._workdir is None:
            workdir = await open_workspace(
                self.key,
                base=self.base,
                environment=self.environment,
                sandbox=self.sandbox,
                hidden=self.hidden,
            )
            marker = f"baseline-{self.run_id}"
            baseline = workdir.load_state(marker, None)
            if baseline is None:
                baseline = await asyncio.to_thread(artifacts.snapshot, workdir.path)
                workdir.save_state(marker, baseline)
            self._baseline = {path: (entry[0], entry[1]) for path, entry in baseline.items()}
            self._workdir = workdir
        return self._workdir

    async def start(self, emit: Emit, load_files: LoadFiles) -> None:
        """Get the run's tools ready before its first turn.

        Its inputs and skills are placed, the environment's setup runs (once per workspace) and
        the MCP servers are connected.
        """
        if self.spec.get("files") or self.spec.get("skills"):
            await self._inputs(load_files)
        await asyncio.to_thread(self._read_agents_md)
        if self.environment.get("setup"):
            await self._setup(emit)
        if self.tools.mcp_servers:
            if any(server.command for server in self.tools.mcp_servers):
                await self.workdir()  # local servers run in the run's sandbox
            self._mcp = await McpToolbox.connect(self.tools.mcp_servers, stdio_wrapper=self._wrap)
            for server, reason in self._mcp.failures.items():
                emit("mcp.unavailable", server=server, reason=reason)
                self.notes.append(
                    f"The MCP server {server!r} is unavailable ({reason}); its tools are missing."
                )
            self.tools.attach(self._mcp)

    async def _inputs(self, load_files: LoadFiles) -> None:
        """Input files and skills go into the workspace once per run, before its baseline."""
        marker, root = f"inputs-{self.run_id}", self.base / self.key
        placed = load_state(root, marker, None)
        if placed is None:
            # Placed before the workspace opens, so its baseline includes them.
            (root / "workspace").mkdir(parents=True, exist_ok=True)
            placed = await self._place(root / "workspace", load_files)
            save_state(root, marker, placed)
        skills = [Skill(**skill) for skill in placed["skills"]]
        if skills:
            self.notes.append(announce(skills))

    async def _place(self, root: Path, load_files: LoadFiles) -> dict[str, Any]:
        files = self.spec.get("files") or []
        skills = self.spec.get("skills") or []
        ids = [e["file_id"] for e in [*files, *skills] if "file_id" in e]
        uploaded = await load_files(ids) if ids else {}
        try:
            inputs = artifacts.resolve_inputs(files, uploaded)
            for path, content in inputs:
                await asyncio.to_thread(artifacts.place, root, path, content)
            installed = []
            for skill in skills:
                archive = uploaded.get(skill["file_id"])
                if archive is None:
                    raise artifacts.MissingInput(f"skill file {skill['file_id']} was deleted")
                installed.append(await asyncio.to_thread(install_skill, root, archive))
        except (artifacts.MissingInput, SkillError, artifacts.UnsafePath) as error:
            raise InputsUnavailable(str(error)) from None
        return {"files": [path for path, _ in inputs], "skills": [vars(s) for s in installed]}

    def _read_agents_md(self) -> None:
        """An `AGENTS.md` at the workspace's root adds its instructions, as in many tools."""
        path = self.base / self.key / "workspace" / AGENTS_MD
        if path.is_file() and not path.is_symlink():
            text = path.read_bytes()[:MAX_AGENTS_MD_BYTES].decode("utf-8", "replace").strip()
            if text:
                self.notes.append(f"Instructions from {AGENTS_MD} in the workspace:\n{text}")

    async def outputs(self) -> list[tuple[str, bytes]]:
        """The files this run created or changed in its workspace (none if it never opened it)."""
        if self._workdir is None or self._baseline is None:
            return []
        root, baseline = self._workdir.path, self._baseline
        paths = await asyncio.to_thread(artifacts.changed, root, baseline)
        return await asyncio.to_thread(artifacts.read_outputs, root, paths) if paths else []

    def _wrap(self, command: str, args: list[str]) -> tuple[str, list[str]]:
        """A local MCP server's command line, run inside the sandbox."""
        if self._workdir is None:
            raise RuntimeError("the workspace must be open before a local MCP server starts")
        argv = self.sandbox.wrap([command, *args], self._workdir.box)
        return argv[0], argv[1:]

    async def _setup(self, emit: Emit) -> None:
        workdir = await self.workdir()
        if workdir.load_state(SETUP_DONE, False):
            return
        for index, command in enumerate(self.environment["setup"]):
            call_id = f"setup_{index + 1}"
            emit("tool.started", call_id=call_id, name="setup", input={"command": command})
            result = await self.sandbox.run(command, workdir.box, timeout_s=SETUP_TIMEOUT_S)
            ok = result.exit_code == 0
            emit(
                "tool.completed",
                call_id=call_id,
                name="setup",
                ok=ok,
                output=result.output if ok else None,
                error=None if ok else result.output or f"exit code {result.exit_code}",
            )
            if not ok:
                ending = result.killed or f"exit code {result.exit_code}"
                raise SetupFailed(f"setup command {index + 1} failed ({ending}): {command}")
        workdir.save_state(SETUP_DONE, True)

    async def call(self, tool: Tool, arguments: dict[str, Any]) -> ToolOutcome:
        """Execute a server-side tool call."""
        workdir = await self.workdir() if tool.needs_files else self._workdir
        context = ToolContext(
            run_id=self.run_id,
            workspace_id=self.workspace_id,
            workdir=workdir,
            private_hosts=self.private_hosts,
        )
        return await tool.run(arguments, context)

    async def close(self) -> None:
        """Disconnect the MCP servers and stop what still runs in the workspace."""
        if self._mcp is not None:
            try:
                await self._mcp.close()
            except Exception:
                logger.exception("closing MCP servers failed", extra={"run_id": self.run_id})
            self._mcp = None
        if self._workdir is not None:
            try:
                await self._workdir.close()
            except Exception:
                logger.exception("closing the workspace failed", extra={"run_id": self.run_id})
            self._workdir = None
