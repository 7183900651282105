"""Commands in the run's environment: bash (foreground or background), its jobs, and git."""

from __future__ import annotations

import shlex
from typing import Annotated, Any, ClassVar

from pydantic import Field

from corral.sandbox.channel import Answer
from corral.tools.base import ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool, workspace_of
from corral.tools.streaming import OutputStream, progress_to, relay_request

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 1_800.0


def report(answer: Answer, timeout_s: float) -> str:
    """A command's output, then how it ended."""
    if not answer.ok:
        raise ToolFailure(answer.error or "the command could not run")
    signal = answer.number("signal")
    exit_code = answer.number("exit_code")
    if answer.fields.get("timed_out") is True:
        ending = f"[killed: the command ran longer than {timeout_s:g} s]"
    elif answer.fields.get("memory_exhausted") is True:
        ending = "[killed: out of memory]"
    elif signal is not None:
        ending = f"[killed by signal {signal}]"
    else:
        ending = f"[exit code {exit_code}]"
    output = answer.text("output").rstrip("\n")
    return f"{output}\n{ending}" if output else ending


async def run_command(
    context: ToolContext, command: str, timeout_s: float, *, stream: bool = False
) -> str:
    """Run `command` with bash in the environment and report how it went.

    With `stream`, its output is also shown as it comes, to whoever watches the call.
    """
    fields: dict[str, Any] = {"command": command, "timeout_s": timeout_s}
    show = context.on_output if stream else None
    if show is None:
        answer = await workspace_of(context).call("bash", fields, timeout_s=timeout_s)
        return report(answer, timeout_s)
    output = OutputStream()
    answer = await workspace_of(context).call(
        "bash",
        {**fields, "stream": relay_request()},
        timeout_s=timeout_s,
        progress=progress_to(output, show),
    )
    if last := output.finish():
        show(last)
    return report(answer, timeout_s)


class BashArgs(Arguments):
    """Arguments of `bash`."""

    command: Annotated[str, Field(min_length=1, max_length=100_000)]
    """The command line, run by bash in the workspace."""
    timeout_s: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)] = DEFAULT_TIMEOUT_S
    """Kill the command (and everything it started) after this many seconds."""
    background: bool = False
    """Start it and return at once with a job id (read it with bash_output)."""


class Bash(BuiltinTool[BashArgs]):
    """Runs a command in the sandbox, or starts it in the background."""

    name: ClassVar[str] = "bash"
    description: ClassVar[str] = (
        "Run a shell command in the workspace sandbox; returns its output and exit code. "
        "Set background for servers and long jobs, then use bash_output and bash_kill."
    )
    arguments = BashArgs

    async def call(self, args: BashArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        if args.background:
            answer = await workspace_of(context).call(
                "job_start", {"command": args.command}, timeout_s=30.0
            )
            if not answer.ok:
                raise ToolFailure(answer.error or "the job could not start")
            return f"started background job {answer.text('job')}"
        return await run_command(context, args.command, args.timeout_s, stream=True)


class JobArgs(Arguments):
    """Arguments naming a background job."""

    job_id: Annotated[str, Field(min_length=1, max_length=100)]
    """The id bash returned for the background job."""


class BashOutput(BuiltinTool[JobArgs]):
    """Reads what a background job wrote since the last read."""

    name: ClassVar[str] = "bash_output"
    description: ClassVar[str] = (
        "New output of a background job since the last call, and whether it is still running."
    )
    arguments = JobArgs
    rerun_safe: ClassVar[bool] = True

    async def call(self, args: JobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        answer = await workspace_of(context).call(
            "job_output", {"job": args.job_id}, timeout_s=30.0
        )
        if not answer.ok:
            raise ToolFailure(answer.error or f"no background job {args.job_id!r}")
        running = answer.fields.get("running") is True
        state = "running" if running else f"exited with code {answer.number('exit_code')}"
        ending = f"[{args.job_id} {state}]"
        text = answer.text("text")
        return f"{text.rstrip()}\n{ending}" if text.strip() else ending


class BashKill(BuiltinTool[JobArgs]):
    """Stops a background job."""

    name: ClassVar[str] = "bash_kill"
    description: ClassVar[str] = "Stop a background job and everything it started."
    arguments = JobArgs

    async def call(self, args: JobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        answer = await workspace_of(context).call("job_kill", {"job": args.job_id}, timeout_s=30.0)
        if not answer.ok:
            raise ToolFailure(answer.error or f"no background job {args.job_id!r}")
        return f"killed {args.job_id}"


class GitArgs(Arguments):
    """Arguments of `git`."""

    args: Annotated[list[Annotated[str, Field(max_length=10_000)]], Field(min_length=1)]
    """Arguments of git, e.g. ["status"] or ["commit", "-m", "message"]."""
    timeout_s: Annotated[float, Field(gt=0, le=MAX_TIMEOUT_S)] = DEFAULT_TIMEOUT_S
    """Kill git after this many seconds."""


class Git(BuiltinTool[GitArgs]):
    """Runs git in the sandbox."""

    name: ClassVar[str] = "git"
    description: ClassVar[str] = "Run git with the given arguments in the workspace sandbox."
    arguments = GitArgs

    async def call(self, args: GitArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        return await run_command(context, "git " + shlex.join(args.args), args.timeout_s)
