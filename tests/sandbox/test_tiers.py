"""What the server does when it cannot sandbox tools, and when the operator turns isolation off.

Refused by default, with the fix; unsafe only when asked for, and shown as such everywhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corral.cli import launch
from corral.sandbox import capabilities
from tests.conftest import api_client, running_app
from tests.helpers import events, submit, wait


def call(name: str, **arguments: Any) -> str:
    return f"[[call {name} {json.dumps(arguments)}]]"


@pytest.fixture
def backend() -> str:
    """The tiers do not depend on the storage backend."""
    return "sqlite"


@pytest.fixture
def no_bubblewrap(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A host without bubblewrap (nothing on PATH), probed afresh."""
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    capabilities.probe.cache_clear()
    yield
    capabilities.probe.cache_clear()


async def test_without_a_sandbox_tools_are_refused_with_the_fix_and_the_server_says_so(
    make_settings, no_bubblewrap
):
    async with running_app(make_settings()) as app, api_client(app) as client:
        ready = (await client.get("/readyz")).json()
        whoami = (await client.get("/v1/whoami")).json()
        tooled = await submit(client, call("bash", command="echo hi"))
        talking = await submit(client, "only words")
        refused = await wait(client, tooled["id"], timeout_s=20)
        talked = await wait(client, talking["id"], timeout_s=20)
        log = await events(client, tooled["id"])

    assert ready["sandbox"]["tier"] == whoami["sandbox"]["tier"] == "unavailable"
    assert "apt-get install bubblewrap" in ready["sandbox"]["fix"]
    assert refused["status"] == "failed"
    assert refused["error"]["code"] == "sandbox_unavailable"
    assert "install bubblewrap" in refused["error"]["message"]
    assert [e for e in log if e["type"] == "tool.completed"] == []  # nothing ran unsandboxed
    assert (talked["status"], talked["output"]) == ("completed", "only words")


async def test_the_unsafe_tier_runs_tools_only_when_asked_for_and_says_so(make_settings):
    async with running_app(make_settings(sandbox="none")) as app, api_client(app) as client:
        ready = (await client.get("/readyz")).json()
        whoami = (await client.get("/v1/whoami")).json()
        run = await submit(client, call("bash", command="echo ran unsandboxed"))
        ended = await wait(client, run["id"], timeout_s=30)
        log = await events(client, run["id"])

    assert ready["sandbox"]["tier"] == whoami["sandbox"]["tier"] == "none"
    assert ready["sandbox"]["detail"].startswith("UNSAFE")
    assert ended["status"] == "completed", ended
    [bash] = [e for e in log if e["type"] == "tool.completed"]
    assert bash["output"] == "ran unsandboxed\n[exit code 0]"


def test_the_startup_banner_says_loudly_when_tools_are_refused_or_unsandboxed(
    capsys, no_bubblewrap
):
    launch.announce_sandbox(capabilities.probe("auto"))
    launch.announce_sandbox(capabilities.probe("none"))

    printed = " ".join(capsys.readouterr().err.split())
    assert "sandbox unavailable" in printed and "sandbox_unavailable" in printed
    assert "apt-get install bubblewrap" in printed
    assert "UNSAFE" in printed


def test_requiring_the_sandbox_on_a_host_without_it_stops_the_server_with_one_line(
    make_settings, no_bubblewrap
):
    from corral.process import sandbox_of

    with pytest.raises(ValueError, match="CORRAL_SANDBOX=bwrap but") as refused:
        sandbox_of(make_settings(sandbox="bwrap"))

    assert "\n" not in str(refused.value)
    assert "apt-get install bubblewrap" in str(refused.value)
