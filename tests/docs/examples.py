"""Running documented examples as a reader would: in bash, or in a Python interpreter.

A page's examples build on each other (an agent made in one is run in the next), so a `Page`
runs them in order, in one shell environment and one Python namespace: variables a shell block
sets (`SES=$(corral sessions create)`) are set in the next shell block, and names a Python block
defines exist in the next Python block. Python blocks run in one interpreter of their own, fed
block by block, so they see the environment the shell blocks left.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

VENV_BIN = Path(sys.executable).parent
ERROR_BODY = re.compile(r'\{"error":\s*"[a-z_]+",\s*"message":')

_DRIVER = r"""
import contextlib, io, json, os, sys, traceback
namespace = {"__name__": "__main__"}
for line in sys.stdin:
    request = json.loads(line)
    os.environ.clear()
    os.environ.update(request["env"])
    output = io.StringIO()
    error = None
    try:
        with contextlib.redirect_stdout(output):
            exec(compile(request["code"], request["where"], "exec"), namespace)
    except BaseException:
        error = traceback.format_exc()
    sys.__stdout__.write(json.dumps({"output": output.getvalue(), "error": error}) + "\n")
    sys.__stdout__.flush()
"""


def clean_environment() -> dict[str, str]:
    """This process's environment without Corral's settings, with the venv's `corral` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env["PATH"] = f"{VENV_BIN}:{env.get('PATH', '')}"
    return env


def reader_environment(base_url: str, api_key: str) -> dict[str, str]:
    """A reader's shell after the README's setup: the server's URL and a key exported."""
    return {**clean_environment(), "CORRAL_BASE_URL": base_url, "CORRAL_API_KEY": api_key}


async def run(
    argv: list[str], env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """Run `argv` with no stdin; its exit status, stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env=env,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return process.returncode, stdout.decode(), stderr.decode()


async def bash(
    script: str, env: dict[str, str], cwd: Path | None = None, timeout: float = 60
) -> tuple[int, str, str]:
    """Run `script` in `bash -euo pipefail`, as a careful reader would paste it."""
    return await run(["bash", "-euo", "pipefail", "-c", script], env, cwd, timeout)


def json_documents(text: str) -> list[Any]:
    """The JSON documents printed back to back in `text` (curl's answers, say)."""
    decoder, documents, index = json.JSONDecoder(), [], 0
    while index < len(text):
        if text[index].isspace():
            index += 1
            continue
        document, index = decoder.raw_decode(text, index)
        documents.append(document)
    return documents


class Page:
    """The shell environment and Python namespace a page's examples share, in `cwd`."""

    def __init__(self, cwd: Path, env: dict[str, str], replacements: dict[str, str]) -> None:
        self.cwd = cwd
        self.env = env
        self.replacements = replacements
        """Text of the examples to replace before running (the documented address, say)."""
        self._python: asyncio.subprocess.Process | None = None

    def prepare(self, code: str) -> str:
        for old, new in self.replacements.items():
            code = code.replace(old, new)
        return code

    async def shell(self, code: str, timeout: float = 60) -> str:
        """Run a shell block; its stdout. Fails on an error or an error body in its output."""
        state = self.cwd / ".shell-state"
        # allexport: the variables the block sets reach the next block through `env`.
        script = f"set -a\n{self.prepare(code)}\nenv -0 > {state}\n"
        returncode, stdout, stderr = await bash(script, self.env, self.cwd, timeout)
        assert returncode == 0, f"exit status {returncode}\n{stdout}\n{stderr}"
        assert not ERROR_BODY.search(stdout), f"the server answered an error:\n{stdout}"
        self.env = dict(
            entry.split("=", 1) for entry in state.read_bytes().decode().split("\0") if entry
        )
        return stdout

    async def python(self, code: str, where: str, timeout: float = 60) -> str:
        """Run a Python block in the page's interpreter; what it printed."""
        if self._python is None:
            self._python = await asyncio.create_subprocess_exec(
                sys.executable,
                "-c",
                _DRIVER,
                cwd=self.cwd,
                env=self.env,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                limit=1 << 24,  # one line of JSON carries all a block printed
            )
        assert self._python.stdin is not None and self._python.stdout is not None
        request = {"code": self.prepare(code), "where": where, "env": self.env}
        self._python.stdin.write(json.dumps(request).encode() + b"\n")
        await self._python.stdin.drain()
        answer = json.loads(await asyncio.wait_for(self._python.stdout.readline(), timeout))
        assert answer["error"] is None, f"{answer['output']}\n{answer['error']}"
        return str(answer["output"])

    async def close(self) -> None:
        if self._python is not None:
            if self._python.returncode is None:
                self._python.kill()
            await self._python.wait()
