"""The SDK installs and works without the server's dependencies."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tomllib
from pathlib import Path

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
