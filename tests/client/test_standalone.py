"""The SDK installs and works without the server's dependencies."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVER_PACKAGES = (
    "fastapi",
    "sqlalchemy",
    "starlette",
    "uvicorn",
    "asyncpg",
    "redis",
    "alembic",
    "orjson",
    "pydantic_settings",
    "prometheus_client",
)

WITHOUT_THE_SERVER = """
import importlib.abc
import sys

BLOCKED = set(sys.argv[1:])


class Uninstalled(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, Uninstalled())
try:
    import fastapi
except ModuleNotFoundError:
    pass
else:
    raise SystemExit("the blocker does not work")

import corral
from corral import Corral, tool
from corral.client import AsyncCorral, RunFailedError


@tool
def shout(text: str) -> str:
    \"\"\"Say it louder.\"\"\"
    return text.upper()


client = Corral()
print(client.whoami().key.name)
print(client.run(model="test", input="quiet", tools=[shout]).output)
loaded = sorted({n.partition(".")[0] for n in sys.modules} & BLOCKED)
print(loaded or "none of the server's packages")
"""


async def test_the_sdk_imports_and_works_when_no_server_package_can_be_imported(
    server, api_key, tmp_path
):
    env = {k: v for k, v in os.environ.items() if not k.startswith("CORRAL_")}
    env.update(CORRAL_BASE_URL=server.base_url, CORRAL_API_KEY=api_key)

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        WITHOUT_THE_SERVER,
        *SERVER_PACKAGES,
        cwd=tmp_path,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().splitlines() == [
        "admin",
        "shout returned: EXAMPLE",
        "none of the server's packages",
    ]


def test_the_base_dependencies_include_no_server_package():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    names = {
        re.split(r"[\[<>=!~; ]", requirement, maxsplit=1)[0].lower().replace("-", "_")
        for requirement in project["dependencies"]
    }

    assert names.isdisjoint(SERVER_PACKAGES)
    assert {"httpx", "pydantic"} <= names


OLDEST_CHECK = """
import subprocess, sys
import httpx, pydantic, rich, typer, yaml
from corral import Corral

client = Corral()
client.agents.create(name="oldest", model="test", instructions="Be brief.")
run = client.runs.create(agent="oldest", input="hello")
print(client.runs.wait(run.id).status)
print(len(list(client.runs.events(run.id))) > 2)
listed = subprocess.run(
    [sys.executable, "-m", "corral", "runs", "list", "--json"], capture_output=True, text=True
)
print(listed.returncode, run.id in listed.stdout, listed.stderr.strip())
"""


def _oldest(requirement: str) -> str | None:
    """`name==X` for a requirement with a `>=X` lower bound, else None."""
    from packaging.requirements import Requirement

    parsed = Requirement(requirement)
    floors = [spec.version for spec in parsed.specifier if spec.operator == ">="]
    return f"{parsed.name}=={floors[0]}" if floors else None


async def test_the_sdk_works_with_the_oldest_version_of_each_base_dependency(
    server, api_key, tmp_path
):
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    oldest = [pin for pin in map(_oldest, project["dependencies"]) if pin]
    assert len(oldest) == len(project["dependencies"]), "every base dependency has a floor"
    venv = tmp_path / "venv"

    async def run(*args: str | Path, timeout_s: float = 300, **kwargs: object) -> str:
        process = await asyncio.create_subprocess_exec(
            *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, **kwargs
        )
        out, err = await asyncio.wait_for(process.communicate(), timeout_s)
        if process.returncode != 0:
            if b"No matching distribution" in err or b"Could not find a version" in err:
                pytest.skip(f"no package index reachable to install {oldest}: {err.decode()}")
            raise AssertionError(err.decode())
        return out.decode()

    await run(sys.executable, "-m", "venv", venv)
    await run(venv / "bin" / "pip", "install", "-q", "--disable-pip-version-check", *oldest)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CORRAL_", "PYTHON"))}
    env.update(
        CORRAL_BASE_URL=server.base_url,
        CORRAL_API_KEY=api_key,
        PYTHONPATH=str(ROOT / "src"),  # the SDK from this checkout, on the oldest dependencies
        PYTHONWARNINGS="error::UserWarning",  # what users of an old pydantic would see
    )
    output = await run(venv / "bin" / "python", "-c", OLDEST_CHECK, env=env, cwd=tmp_path)

    assert output.splitlines() == ["completed", "True", "0 True "]
