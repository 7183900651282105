"""The tools of one executing run while it executes.

Its environment is started when first needed: to place its inputs and skills, run its setup
commands (once per workspace), start its local MCP servers, or execute a builtin tool. Remote
MCP servers are connected at the start, and again if their connection is lost mid-run (the events
saying so are written when a tool is next called); everything is closed at the end.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from corral.domain.events import (
    EventPayload,
    McpUnavailable,
    ToolCompleted,
    ToolOutputDelta,
    ToolStarted,
)
from corral.domain.redaction import Redactor, StreamRedactor
from corral.domain.run_spec import RunEnvironment, RunSpec
from corral.errors import RunFailure
from corral.runtime.workspace import RunWorkspace, load_state, save_state
from corral.sandbox.egress import EgressPolicy
from corral.sandbox.environment import Environment, EnvironmentLost, EnvironmentSpec
from corral.sandbox.host import RUNTIME_SIZES
from corral.sandbox.pool import Environments
from corral.tools import artifacts
from corral.tools.base import Tool, ToolContext, ToolOutcome
from corral.tools.builtin.shell import report
from corral.tools.registry import ToolSet
from corral.tools.skills import (
    Skill,
    SkillError,
    UnpackedSkill,
    announce,
    install_request,
    unpack_skill,
)
from corral.types.errors import ErrorCode

if TYPE_CHECKING:
    from corral.tools.mcp_toolbox import McpToolbox

logger = logging.getLogger(__name__)

SETUP_TIMEOUT_S = 900.0
TRANSFER_TIMEOUT_S = 300.0
AGENTS_MD = "AGENTS.md"
MAX_AGENTS_MD_BYTES = 64_000
SETUP_DONE = "setup"


class SetupFailed(RunFailure):
    """A setup command of the environment failed."""

    code = ErrorCode.SETUP_FAILED


class InputsUnavailable(RunFailure):
    """An input file or skill of the run can no longer be placed in its workspace."""

    code = ErrorCode.INPUTS_UNAVAILABLE


Emit = Callable[[EventPayload], None]
LoadFiles = Callable[[list[str]], Awaitable[dict[str, bytes]]]


def environment_spec(
    key: str, environment: RunEnvironment, egress: EgressPolicy
) -> EnvironmentSpec:
    """What a run spec's `environment` asks of the sandbox."""
    return EnvironmentSpec(
        key=key,
        limits=RUNTIME_SIZES[environment.runtime],
        network=egress,
        variables=dict(environment.variables),
    )


class CallOutput:
    """A tool call's output as it runs, written as `tool.output_delta` events.

    Redacted as a stream: a secret split between two pieces is still replaced, the start of one
    held back until the next piece (or `close`) shows whether it is one.
    """

    def __init__(self, call_id: str, emit: Emit, redactor: Redactor) -> None:
        self._call_id = call_id
        self._emit = emit
        self._stream = StreamRedactor(redactor) if redactor else None

    def show(self, text: str) -> None:
        """Write the next piece."""
        if self._stream is not None:
            text = self._stream.feed(text)
        if text:
            self._emit(ToolOutputDelta(call_id=self._call_id, text=text))

    def close(self) -> None:
        """The call has ended: write what redaction held back."""
        if self._stream is not None and (held := self._stream.flush()):
            self._emit(ToolOutputDelta(call_id=self._call_id, text=held))


class RunTooling:
    """What a run's server-side tools need while it executes."""

    def __init__(
        self,
        *,
        run_id: str,
        workspace_id: str,
        key: str,
        spec: RunSpec,
        tools: ToolSet,
        environments: Environments,
        private_hosts: tuple[str, ...],
        in_session: bool,
    ) -> None:
        self.run_id = run_id
        self.workspace_id = workspace_id
        self.tools = tools
        self.egress = EgressPolicy.for_networking(
            spec.environment.networking, private_hosts=private_hosts
        )
        """Where web_fetch, remote MCP servers and the agent's own commands may connect."""
        self.workspace = RunWorkspace(
            run_id=run_id,
            spec=environment_spec(key, spec.environment, self.egress),
            environments=environments,
            keep_warm=in_session,
        )
        self.notes: list[str] = []
        """What the model must be told about its tools (servers that are unavailable)."""
        self.spec = spec
        self._mcp: McpToolbox | None = None

    async def start(self, emit: Emit, load_files: LoadFiles) -> None:
        """Get the run's tools ready before its first turn.

        Its inputs and skills are placed, the environment's setup runs (once per workspace) and
        the MCP servers are connected.
        """
        had_files = self.workspace.exists
        if self.spec.has_inputs:
            await self._inputs(load_files)
        if had_files or self.spec.has_inputs:
            await self._read_agents_md()
        if self.spec.environment.setup:
            await self._setup(emit)
        if self.tools.mcp_servers:
            # Imported here: the MCP SDK loads its server side (a web framework among it), which
            # a worker whose runs use no MCP server has no need of.
            from corral.tools.mcp_toolbox import McpToolbox

            self._mcp = await McpToolbox.connect(
                self.tools.mcp_servers, launcher=self.workspace, egress=self.egress, emit=emit
            )
            for server, reason in self._mcp.failures.items():
                emit(McpUnavailable(server=server, reason=reason))
                self.notes.append(
                    f"The MCP server {server!r} is unavailable ({reason}); its tools are missing."
                )
            self.tools.attach(self._mcp)

    async def _inputs(self, load_files: LoadFiles) -> None:
        """Input files and skills go into the workspace once per run, before its baseline."""
        marker, root = f"inputs-{self.run_id}", self.workspace.root
        placed = load_state(root, marker, None)
        if placed is None:
            placed = await self._place(load_files)
            save_state(root, marker, placed)
        skills = [Skill(**skill) for skill in placed["skills"]]
        if skills:
            self.notes.append(announce(skills))

    async def _place(self, load_files: LoadFiles) -> dict[str, Any]:
        files, skill_refs = self.spec.files, self.spec.skills
        ids = [f.file_id for f in files if f.file_id is not None]
        ids += [ref.file_id for ref in skill_refs]
        uploaded = await load_files(ids) if ids else {}
        try:
            inputs = artifacts.resolve_inputs(files, uploaded)
            skills = []
            for ref in skill_refs:
                archive = uploaded.get(ref.file_id)
                if archive is None:
                    raise artifacts.MissingInput(f"skill file {ref.file_id} was deleted")
                skills.append(unpack_skill(archive))
        except (artifacts.MissingInput, SkillError) as error:
            raise InputsUnavailable(str(error)) from None
        environment = await self.workspace.environment()  # before the baseline is taken
        try:
            if inputs:
                entries = [{"path": path, "size": len(content)} for path, content in inputs]
                payload = b"".join(content for _, content in inputs)
                await _transfer(environment, "put_files", {"files": entries}, payload)
            for skill in skills:
                await _install(environment, skill)
        except EnvironmentLost as error:
            raise InputsUnavailable(f"the inputs could not be placed: {error}") from None
        installed = [{"name": s.name, "description": s.description, "path": s.path} for s in skills]
        return {"files": [path for path, _ in inputs], "skills": installed}

    async def _read_agents_md(self) -> None:
        """An `AGENTS.md` at the workspace's root adds its instructions, as in many tools."""
        environment = await self.workspace.environment()
        try:
            answer = await environment.call(
                "text_file", {"path": AGENTS_MD, "max_bytes": MAX_AGENTS_MD_BYTES}, timeout_s=30
            )
        except EnvironmentLost:
            return
        text = answer.text("text").strip()
        if text:
            self.notes.append(f"Instructions from {AGENTS_MD} in the workspace:\n{text}")

    async def _setup(self, emit: Emit) -> None:
        if load_state(self.workspace.root, SETUP_DONE, False):
            return
        for index, command in enumerate(self.spec.environment.setup):
            call_id = f"setup_{index + 1}"
            emit(ToolStarted(call_id=call_id, name="setup", input={"command": command}))
            try:
                answer = await self.workspace.call(
                    "bash", {"command": command, "timeout_s": SETUP_TIMEOUT_S},
                    timeout_s=SETUP_TIMEOUT_S,
                )  # fmt: skip
            except EnvironmentLost as error:
                raise SetupFailed(
                    f"setup command {index + 1} failed ({error}): {command}"
                ) from None
            ok = answer.ok and answer.number("exit_code") == 0
            output = answer.text("output")
            emit(
                ToolCompleted(
                    call_id=call_id,
                    name="setup",
                    ok=ok,
                    output=output if ok else None,
                    error=None if ok else output or answer.error or report(answer, SETUP_TIMEOUT_S),
                )
            )
            if not ok:
                ending = report(answer, SETUP_TIMEOUT_S).rsplit("\n", 1)[-1]
                raise SetupFailed(f"setup command {index + 1} failed {ending}: {command}")
        save_state(self.workspace.root, SETUP_DONE, True)

    async def outputs(self) -> list[tuple[str, bytes]]:
        """The files this run created or changed in its workspace (none if it never opened it)."""
        return await self.workspace.outputs()

    async def call(
        self,
        tool: Tool,
        arguments: dict[str, Any],
        *,
        on_output: Callable[[str], None] | None = None,
    ) -> ToolOutcome:
        """Execute a server-side tool call; `on_output` is shown its output as it runs.

        Then the events of MCP servers reconnected (or given up) meanwhile are written: from
        here, between the call's own events, never in the middle of a model turn.
        """
        context = ToolContext(
            run_id=self.run_id,
            workspace_id=self.workspace_id,
            workspace=self.workspace if tool.needs_files else None,
            egress=self.egress,
            on_output=on_output,
        )
        outcome = await tool.run(arguments, context)
        if self._mcp is not None:
            self._mcp.flush()
        return outcome

    async def close(self) -> None:
        """Disconnect the MCP servers and stop what still runs in the workspace."""
        if self._mcp is not None:
            try:
                await self._mcp.close()
            except Exception:
                logger.exception("closing MCP servers failed", extra={"run_id": self.run_id})
            self._mcp = None
        try:
            await self.workspace.close()
        except Exception:
            logger.exception("closing the environment failed", extra={"run_id": self.run_id})


async def _transfer(
    environment: Environment, op: str, fields: dict[str, Any], payload: bytes
) -> None:
    answer = await environment.call(op, fields, payload=payload, timeout_s=TRANSFER_TIMEOUT_S)
    if not answer.ok:
        raise InputsUnavailable(f"the inputs could not be placed: {answer.error}")


async def _install(environment: Environment, skill: UnpackedSkill) -> None:
    fields, payload = install_request(skill)
    answer = await environment.call(
        "install_skill", fields, payload=payload, timeout_s=TRANSFER_TIMEOUT_S
    )
    if not answer.ok:
        raise InputsUnavailable(f"the skill {skill.name} could not be installed: {answer.error}")
