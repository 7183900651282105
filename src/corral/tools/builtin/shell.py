"""Commands in the run's sandbox: bash (foreground or background), bash_output, bash_kill, git."""

from __future__ import annotations

import shlex
from typing import Annotated, ClassVar

from pydantic import Field

from corral.tools.base import MAX_OUTPUT_CHARS, ToolContext, ToolFailure
from corral.tools.builtin._tool import Arguments, BuiltinTool, workdir_of
from corral.tools.sandbox import CommandResult

DEFAULT_TIMEOUT_S = 120.0
MAX_TIMEOUT_S = 1_800.0
MAX_BACKGROUND_JOBS = 16


def _report(result: CommandResult, timeout_s: float) -> str:
    """The output, then how the command ended."""
    if result.killed == "timeout" or result.timed_out:
        ending = f"[killed: the command ran longer than {timeout_s:g} s]"
    elif result.killed == "memory":
        ending = "[killed: out of memory]"
    elif result.killed is not None:
        ending = f"[killed: {result.killed}]"
    else:
        ending = f"[exit code {result.exit_code}]"
    output = result.output.rstrip("\n")
    return f"{output}\n{ending}" if output else ending


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
        workdir = workdir_of(context)
        if args.background:
            running = [job for job in workdir.jobs.values() if (await job.read(0, 0))[2]]
            if len(running) >= MAX_BACKGROUND_JOBS:
                raise ToolFailure(f"{MAX_BACKGROUND_JOBS} background jobs are running already")
            job = await workdir.sandbox.start(args.command, workdir.box)
            return f"started background job {workdir.add_job(job)}"
        result = await workdir.sandbox.run(
            args.command, workdir.box, timeout_s=args.timeout_s, max_output_chars=MAX_OUTPUT_CHARS
        )
        return _report(result, args.timeout_s)


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

    async def call(self, args: JobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        job = workdir.jobs.get(args.job_id)
        if job is None:
            raise ToolFailure(f"no background job {args.job_id!r} in this run")
        text, offset, running, exit_code = await job.read(workdir.read_offsets.get(args.job_id, 0))
        workdir.read_offsets[args.job_id] = offset
        state = "running" if running else f"exited with code {exit_code}"
        ending = f"[{args.job_id} {state}]"
        return f"{text.rstrip()}\n{ending}" if text.strip() else ending


class BashKill(BuiltinTool[JobArgs]):
    """Stops a background job."""

    name: ClassVar[str] = "bash_kill"
    description: ClassVar[str] = "Stop a background job and everything it started."
    arguments = JobArgs

    async def call(self, args: JobArgs, context: ToolContext) -> str:
        """Do the work of one call."""
        workdir = workdir_of(context)
        job = workdir.jobs.pop(args.job_id, None)
        if job is None:
            raise ToolFailure(f"no background job {args.job_id!r} in this run")
        await job.kill()
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
        workdir = workdir_of(context)
        result = await workdir.sandbox.run(
            "git " + shlex.join(args.args),
            workdir.box,
            timeout_s=args.timeout_s,
            max_output_chars=MAX_OUTPUT_CHARS,
        )
        return _report(result, args.timeout_s)
